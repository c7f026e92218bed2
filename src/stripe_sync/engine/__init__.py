"""The engine: read / write / sync with sync runs, limits, the confirmation watermark and progress."""
