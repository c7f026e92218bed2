"""Destinations that write to databases."""
