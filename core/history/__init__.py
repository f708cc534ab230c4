"""Execution history and the stats rollups kept beside it."""
