"""`python -m rosetta` — the same as the `rosetta` command."""

from rosetta.cli import main

main()
