"""One blueprint per screen; shared view helpers live in blueprints.common."""
