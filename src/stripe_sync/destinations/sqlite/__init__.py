"""The SQLite destination (the zero-setup default)."""
