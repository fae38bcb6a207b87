"""What every layer's commands share: the consoles, the settings, user-facing errors, model loading.

Its own module (not `rosetta.cli`) so that a layer's CLI can import it while `rosetta.cli` is still
loading the layers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from rosetta.models import Encoder, ModelNotFoundError
from rosetta.safe_text import for_console
from rosetta.settings import Backend, Settings

console = Console()
err = Console(stderr=True)


def get_settings() -> Settings:
    return Settings()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a user-facing error (no traceback) and return the Exit to raise."""
    # Messages quote file names and collection names: data, never markup.
    err.print(f"[bold red]error:[/] {for_console(message)}", highlight=False)
    return typer.Exit(code)


def show(json_out: bool, data: Any, pretty: Callable[[], None]) -> None:
    """Print `data` as one line of JSON (--json), else the human-readable view `pretty` prints."""
    if json_out:
        typer.echo(json.dumps(data, ensure_ascii=False))
    else:
        pretty()


def load_encoder(
    settings: Settings,
    model: str | None = None,
    precision: str | None = None,
    backend: Backend | None = None,
    queries: bool = False,
) -> Encoder:
    """Load the configured (or given) model, turning lookup failures into clean CLI errors; with
    `queries`, its query engine too (so its one-time build happens under the spinner)."""
    reference = model or settings.model
    try:
        # The first ONNX use exports (and quantizes) the model: a minute or two, once per user.
        with err.status(f"Loading model {reference} (first use of an ONNX backend builds it)…"):
            encoder = Encoder.from_settings(settings, model=model, precision=precision, backend=backend)
            if queries:
                encoder.prepare_queries()
            return encoder
    except ModelNotFoundError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail(f"interrupted while loading model {reference}; nothing was changed", 130) from None
