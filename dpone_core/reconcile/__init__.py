"""Comparing a source and a target by key: segment checksums, then the rows of differing segments."""
