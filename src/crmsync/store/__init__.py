"""The Campaign store."""
