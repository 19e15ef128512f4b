"""Racecar experiments E1-E10 (see docs/racecar.md)."""
