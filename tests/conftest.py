"""Fixtures shared by every test."""

from __future__ import annotations
