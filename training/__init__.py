"""Rosetta training layer."""
