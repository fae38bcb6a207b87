"""multilingual-e5-small-aligned: the base conversion plus the project's own distilled LoRA adapter.

The adapter (a few MB, in `rosetta/models/adapters/`) was trained by `rosetta train --config
bench/configs/distill_aligned_50lang.yaml`; its card (`.json` beside it) holds the measured scores
shown by `rosetta models list`. Building merges it into the freshly converted base weights with
`rosetta.models.adapter`, which is deterministic: every build has the same sha256.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from rosetta.models.adapter import apply_adapter_to_folder
from rosetta.models.e5_convert import build_sentence_transformer

NAME = "multilingual-e5-small-aligned"
BASE = "multilingual-e5-small"


def adapter_file() -> Path:
    return Path(str(resources.files("rosetta.models") / "adapters" / f"{NAME}.safetensors"))


def card() -> dict:
    """The adapter's card: scores, config and report paths; empty if it is missing."""
    path = adapter_file().with_suffix(".json")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def description() -> str:
    text = "multilingual-e5-small + Rosetta's distilled alignment adapter (LoRA)"
    scores = card().get("scores", {})
    if scores:
        text += "; measured (base → aligned): " + ", ".join(
            f"{k} {v['base']} → {v['aligned']}" for k, v in scores.items()
        )
    return text


def build_aligned(target: Path) -> Path:
    """Convert the base model if needed (next to `target`), then merge the adapter into a copy."""
    base_dir = target.parent / BASE
    if not (base_dir / "modules.json").exists():
        build_sentence_transformer(base_dir)
    readme = (
        f"# {NAME}\n\n{description()}.\n\nBuilt by `rosetta models build {NAME}` from `{BASE}` "
        f"and `rosetta/models/adapters/{NAME}.safetensors`.\n"
    )
    return apply_adapter_to_folder(base_dir, adapter_file(), target, extra_files={"README.md": readme})
