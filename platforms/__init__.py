"""What the marketplaces say, in their own words, read once for every way their data arrives.

``statuses``: each platform's after-sales status words and codes, mapped to ours (imports and sync alike);
``exports``: the back offices' own export files, recognised by their headers (the import's presets).
"""
