"""The engine: read / write / sync with sync runs, limits, the commit fence and progress."""
