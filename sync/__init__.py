"""Marketplace sync: cases and reviews fetched from each connected shop's open platform (see sync/runner.py)."""
