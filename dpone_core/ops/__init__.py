"""``dpone ops``: commands that plan, validate and write evidence around loads (never load themselves)."""
