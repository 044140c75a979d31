"""Synthetic event streams with known content: test patterns, an event simulator and scenes."""
