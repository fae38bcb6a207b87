"""Rosetta app layer."""
