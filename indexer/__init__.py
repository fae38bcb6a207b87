"""Rosetta indexer layer."""
