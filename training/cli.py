"""Subcommands contributed by the training layer (registered on the root `rosetta` CLI)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this layer's subcommands to the root CLI."""
