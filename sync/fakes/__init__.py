"""Local stand-ins of the marketplaces' open platforms, written from their public API definitions.

Tests run the real connectors against them over HTTP on 127.0.0.1, and ``make run`` connects its demo shops
to them so a new user sees cases and reviews arrive without an account. They are not the platforms: each
module cites the public definition it follows, and a real account may still differ (README, "Marketplace sync").
"""
