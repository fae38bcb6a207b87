"""Low-rank weight deltas (LoRA adapters) and the deterministic merge that turns base + adapter into a model.

An adapter file is a safetensors file with, for each adapted weight `W` of the base model's
`model.safetensors`, two tensors `<key>.lora_A` [r, in] and `<key>.lora_B` [out, r]; the merged
weight is `W + scaling × B @ A`. Its metadata names the base (name and sha256 of its weights),
so an adapter is never applied to another model's weights.

The merge is plain numpy in float64 with a fixed summation order (one rank-1 outer product at a
time) and the result is rounded to float32 once: the same base and adapter give the same bytes on
any machine and thread count, which makes a rebuilt model's identity (sha256) reproducible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

A_SUFFIX = ".lora_A"
B_SUFFIX = ".lora_B"


class AdapterError(ValueError):
    """An adapter file that does not fit the base model it is applied to."""


@dataclass
class Adapter:
    # Base weight key → (A [r, in], B [out, r]).
    deltas: dict[str, tuple[np.ndarray, np.ndarray]]
    scaling: float
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def parameters(self) -> int:
        return int(sum(a.size + b.size for a, b in self.deltas.values()))

    def save(self, path: Path) -> Path:
        from safetensors.numpy import save_file

        tensors: dict[str, np.ndarray] = {}
        for key, (a, b) in sorted(self.deltas.items()):
            tensors[key + A_SUFFIX] = np.ascontiguousarray(a, dtype=np.float32)
            tensors[key + B_SUFFIX] = np.ascontiguousarray(b, dtype=np.float32)
        meta = {**self.meta, "scaling": repr(float(self.scaling))}
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata={k: str(v) for k, v in sorted(meta.items())})
        return path

    @classmethod
    def load(cls, path: Path) -> Adapter:
        from safetensors import safe_open

        if not path.is_file():
            raise AdapterError(f"adapter file {path} does not exist")
        with safe_open(str(path), framework="np") as fh:
            meta = dict(fh.metadata() or {})
            keys = list(fh.keys())
            tensors = {k: fh.get_tensor(k) for k in keys}
        if "scaling" not in meta:
            raise AdapterError(f"{path}: no 'scaling' in the metadata; not a rosetta adapter")
        deltas: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for k in keys:
            if k.endswith(A_SUFFIX):
                base = k[: -len(A_SUFFIX)]
                if base + B_SUFFIX not in tensors:
                    raise AdapterError(f"{path}: {k} has no matching {base + B_SUFFIX}")
                deltas[base] = (tensors[k], tensors[base + B_SUFFIX])
        scaling = float(meta.pop("scaling"))
        return cls(deltas=deltas, scaling=scaling, meta=meta)


def low_rank_delta(a: np.ndarray, b: np.ndarray, scaling: float) -> np.ndarray:
    """scaling × B @ A in float64, summed rank by rank (fixed order: bitwise reproducible)."""
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    delta = np.zeros((b.shape[0], a.shape[1]), dtype=np.float64)
    for i in range(a.shape[0]):
        delta += np.outer(b64[:, i], a64[i])
    return delta * scaling


def merge_adapter(state: dict[str, np.ndarray], adapter: Adapter) -> dict[str, np.ndarray]:
    """A copy of `state` with every adapted weight replaced by W + scaling × B @ A (float32)."""
    merged = dict(state)
    for key, (a, b) in adapter.deltas.items():
        if key not in state:
            raise AdapterError(f"the adapter changes '{key}', which the base model does not have")
        w = state[key]
        if w.shape != (b.shape[0], a.shape[1]) or a.shape[0] != b.shape[1]:
            raise AdapterError(f"'{key}': base weight {w.shape} vs adapter A {a.shape}, B {b.shape}")
        merged[key] = (w.astype(np.float64) + low_rank_delta(a, b, adapter.scaling)).astype(np.float32)
    return merged


def apply_adapter_to_folder(
    base_dir: Path, adapter_path: Path, target: Path, extra_files: dict[str, str] | None = None
) -> Path:
    """Write base_dir's model with the adapter merged to `target` (atomically: tmp dir, then rename).

    Every file of the base folder is copied except its weights and cached identity; the weights
    are rewritten merged. The base's sha256 must match the adapter's `base_weights_sha256`.
    """
    import shutil
    import tempfile

    from safetensors.numpy import load_file, save_file

    from rosetta.models.encoder import weights_hash

    adapter = Adapter.load(adapter_path)
    expected = adapter.meta.get("base_weights_sha256")
    actual = weights_hash(base_dir)
    if expected and expected != actual:
        raise AdapterError(
            f"{adapter_path} was trained on base weights {expected[:12]}, but {base_dir} has "
            f"{actual[:12]}; rebuild the base model (rosetta models build --force)"
        )
    state = load_file(str(base_dir / "model.safetensors"))
    merged = merge_adapter(state, adapter)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        out = Path(tmp) / "model"
        shutil.copytree(
            base_dir, out, ignore=shutil.ignore_patterns("model.safetensors", "rosetta_identity.json", ".*")
        )
        save_file(merged, str(out / "model.safetensors"), metadata={"format": "pt"})
        (out / "rosetta_adapter.json").write_text(
            json.dumps(
                {"adapter": adapter_path.name, "parameters": adapter.parameters, **adapter.meta},
                indent=2,
                sort_keys=True,
            )
        )
        for name, text in (extra_files or {}).items():
            (out / name).write_text(text)
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    return target
