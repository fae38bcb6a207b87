"""The `rosetta` command. The core defines `models` and `encode`; the indexer, training and app
layers add their subcommands through the `rosetta.cli` entry-point group, so the core never
imports the layers built on top of it."""

from __future__ import annotations

import json
import logging
from importlib.metadata import entry_points
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from rosetta.cli_common import console, err, fail, get_settings, load_encoder
from rosetta.logs import configure_logging
from rosetta.models import KNOWN_MODELS, ModelNotFoundError, build_model
from rosetta.models.backends import BackendChoice, choose_backend
from rosetta.settings import Settings, resolve_device

app = typer.Typer(
    name="rosetta",
    help="Multilingual semantic search: index documents in any language, search across languages.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="Offline models: list and build.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@app.callback()
def root(
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="-v: retry notices, reader tracebacks, backend choice; -vv: libraries' debug output too.",
        ),
    ] = 0,
) -> None:
    """Multilingual semantic search: index documents in any language, search across languages."""
    configure_logging(verbose)


@models_app.command("list")
def models_list(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the models known offline and whether each is built."""
    settings = get_settings()
    device = resolve_device(settings.device)
    rows: list[dict[str, Any]] = []
    for m in KNOWN_MODELS.values():
        built = m.is_available(settings.models_dir)
        choice = backend_for(m.name, settings, device) if built else None
        rows.append(
            {
                "name": m.name,
                "built": built,
                "dim": m.dim,
                "languages": m.languages,
                "prompts": m.prompts,
                "description": m.description,
                "backend": choice.backend if choice else None,
                "backend_reason": choice.reason if choice else None,
            }
        )
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(
        title=f"Offline models (cache: {settings.models_dir}; "
        f"ROSETTA_ENCODER_BACKEND={settings.encoder_backend})"
    )
    for col in ("name", "built", "dim", "languages", "backend", "description"):
        table.add_column(col)
    for r in rows:
        backend = f"{r['backend']}: {r['backend_reason']}" if r["backend"] else "-"
        table.add_row(
            r["name"], "yes" if r["built"] else "no", str(r["dim"]), r["languages"], backend, r["description"]
        )
    console.print(table)


def backend_for(name: str, settings: Settings, device: str) -> BackendChoice:
    """The backend an Encoder would use for this offline model, without loading it."""
    from pathlib import Path

    from rosetta.models.encoder import weights_hash

    folder = Path(build_model(name, settings.models_dir))
    try:
        # Offline models are BERT-like mean-pooled encoders, all exportable to ONNX.
        return choose_backend(
            settings.encoder_backend, device, settings.precision, weights_hash(folder), None
        )
    except ValueError as exc:
        return BackendChoice("error", str(exc))


@models_app.command("build")
def models_build(
    name: str,
    force: Annotated[bool, typer.Option(help="Rebuild even if already built.")] = False,
) -> None:
    """Build an offline model into the cache (~/.cache/rosetta/models or ROSETTA_CACHE_DIR)."""
    settings = get_settings()
    try:
        with err.status(f"Building {name}…"):
            path = build_model(name, settings.models_dir, force=force)
    except ModelNotFoundError as exc:
        raise fail(str(exc)) from None
    console.print(f"[green]ready:[/] {name} → {path}")


@app.command()
def encode(
    texts: Annotated[list[str], typer.Argument(help="Sentences to embed (as documents).")],
    model: Annotated[str | None, typer.Option(help="Model name or folder.")] = None,
    query: Annotated[bool, typer.Option(help="Embed as queries instead of documents.")] = False,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Embed TEXTs and print their dimension and pairwise cosine matrix."""
    settings = get_settings()
    encoder = load_encoder(settings, model, queries=query)
    vectors = encoder.encode_queries(texts) if query else encoder.encode_documents(texts)
    cosine = np.round(vectors @ vectors.T, 4)
    if json_out:
        typer.echo(
            json.dumps(
                {
                    "model": encoder.identity.to_dict(),
                    "dim": int(vectors.shape[1]),
                    "texts": texts,
                    "cosine": cosine.tolist(),
                },
                ensure_ascii=False,
            )
        )
        return
    console.print(f"model {encoder.identity.describe()} · dim {vectors.shape[1]}")
    table = Table(title="cosine similarity")
    table.add_column("")
    for i in range(len(texts)):
        table.add_column(str(i))
    for i, t in enumerate(texts):
        short = t if len(t) <= 40 else t[:39] + "…"
        table.add_row(f"{i}: {short}", *(f"{c:.3f}" for c in cosine[i]))
    console.print(table)


# Layers whose commands could not be loaded, with the reason: the tests require it to stay empty.
plugin_errors: dict[str, str] = {}


def _register_plugins() -> None:
    for ep in entry_points(group="rosetta.cli"):
        try:
            register = ep.load()
        except ImportError as exc:  # a broken layer must not take the whole CLI down
            plugin_errors[ep.name] = str(exc)
            logging.getLogger(__name__).warning("rosetta: cannot load %s commands: %s", ep.name, exc)
            continue
        register(app)


_register_plugins()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
