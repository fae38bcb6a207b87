"""Rosetta's shared core: settings, the model layer, language id, progress and the CLI root."""

__version__ = "0.1.0"
