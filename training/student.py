"""Teacher and student models for distillation.

The student is a SentenceTransformer whose training head matches the target space: if the
teacher target is un-normalized, the student's trailing Normalize is removed for training (an
L2-normalized output cannot match un-normalized targets under MSE) and put back on save, so the
saved model's cosine geometry is what was trained and its outputs stay unit-length for indexes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rosetta.models import Encoder
from rosetta.models.precision import autocast


def is_normalize(module: nn.Module) -> bool:
    return type(module).__name__ == "Normalize"


@dataclass
class Teacher:
    encoder: Encoder
    normalized_target: bool
    # Teacher without its final Normalize when distilling the raw output.
    model: Any

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def encode_fn(self, batch_size: int, precision: str = "fp32") -> Callable[[list[str]], np.ndarray]:
        # The teacher sees plain English: its own prompts (if any) are applied as it was trained.
        prompt = self.encoder.query_prefix()
        device = str(self.model.device)

        def encode(texts: list[str]) -> np.ndarray:
            with autocast(precision, device):
                vectors = self.model.encode(
                    texts,
                    prompt=prompt,
                    batch_size=batch_size,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                    normalize_embeddings=self.normalized_target,
                )
            return np.asarray(vectors, dtype=np.float32)

        return encode


def load_teacher(reference: str, models_dir: Path, device: str, normalized_target: bool = False) -> Teacher:
    from sentence_transformers import SentenceTransformer

    encoder = Encoder.load(reference, models_dir, device)
    model = encoder.model
    modules = list(model.children())
    if not normalized_target and modules and is_normalize(modules[-1]):
        model = SentenceTransformer(modules=modules[:-1], device=device, prompts=dict(model.prompts))
        model.max_seq_length = encoder.model.max_seq_length
    model.eval()
    return Teacher(encoder=encoder, normalized_target=normalized_target, model=model)


@dataclass
class StudentInfo:
    base: str
    base_identity: dict
    n_layers_base: int
    kept_layers: list[int]
    frozen_embeddings: bool
    had_normalize: bool
    projection: str | None  # None, "dense" (dims differ)
    trainable_parameters: int
    total_parameters: int
    lora_modules: list[str] = field(default_factory=list)


def _encoder_layers(auto_model: nn.Module) -> tuple[nn.Module, str, nn.ModuleList]:
    """The module list holding the transformer blocks (BERT/XLM-R `encoder.layer`, others `layers`)."""
    for parent in auto_model.modules():
        for attr in ("layer", "layers", "block"):
            child = getattr(parent, attr, None)
            if isinstance(child, nn.ModuleList) and len(child) > 0:
                return parent, attr, child
    raise ValueError(f"cannot find the transformer layers of {type(auto_model).__name__}")


def pick_layers(n: int, keep: int | list[int] | None) -> list[int]:
    """Which of n layers to keep: all, an explicit list, or k evenly spaced ones (first and last kept)."""
    if keep is None:
        return list(range(n))
    if isinstance(keep, list):
        bad = [i for i in keep if not 0 <= i < n]
        if bad or not keep:
            raise ValueError(f"layers {keep}: indices must be in 0..{n - 1}")
        return sorted(set(keep))
    if not 1 <= keep <= n:
        raise ValueError(f"keep_layers={keep}: must be between 1 and {n}")
    if keep == 1:
        return [n - 1]
    return sorted({round(i * (n - 1) / (keep - 1)) for i in range(keep)})


def prune_layers(transformer_module: Any, keep: int | list[int] | None) -> tuple[int, list[int]]:
    auto = transformer_module.auto_model
    parent, attr, layers = _encoder_layers(auto)
    n = len(layers)
    kept = pick_layers(n, keep)
    if len(kept) != n:
        setattr(parent, attr, nn.ModuleList([layers[i] for i in kept]))
        # The saved config must agree with the pruned weights or reloading fails.
        for name in ("num_hidden_layers", "num_layers", "n_layer"):
            if hasattr(auto.config, name):
                setattr(auto.config, name, len(kept))
        for i, layer in enumerate(getattr(parent, attr)):
            # Newer attention implementations index their KV cache by layer_idx.
            for sub in layer.modules():
                if hasattr(sub, "layer_idx"):
                    sub.layer_idx = i
    return n, kept


def build_student(
    reference: str,
    models_dir: Path,
    device: str,
    target_dim: int,
    normalized_target: bool,
    freeze_embeddings: bool = True,
    keep_layers: int | list[int] | None = None,
    max_seq_length: int | None = 128,
    freeze_layers: int = 0,
    lora: Any = None,
) -> tuple[Any, StudentInfo]:
    """Load the student (ST folder, offline name, or bare transformer → mean pooling) for training."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense

    encoder = Encoder.load(reference, models_dir, device)
    model = encoder.model
    modules = list(model.children())
    had_normalize = bool(modules) and is_normalize(modules[-1])
    if had_normalize and not normalized_target:
        modules = modules[:-1]
    transformer = modules[0]
    n_layers, kept = prune_layers(transformer, keep_layers)
    projection = None
    student_dim = encoder.dim
    if student_dim != target_dim:
        modules.append(Dense(student_dim, target_dim, activation_function=nn.Identity()))
        projection = "dense"
    student = SentenceTransformer(
        modules=modules,
        device=device,
        prompts=dict(model.prompts),
        default_prompt_name=model.default_prompt_name,
    )
    if max_seq_length:
        student.max_seq_length = max_seq_length
    if freeze_embeddings:
        # Most of a multilingual small model is its vocabulary matrix; freezing it saves the
        # optimizer state and gradient for ~96M parameters and keeps rare-language tokens intact.
        transformer.auto_model.get_input_embeddings().requires_grad_(False)
    if freeze_layers:
        # Bottom blocks hold language-generic features; not back-propagating through them cuts
        # the step cost on CPU and limits drift away from the base model's cross-lingual alignment.
        _, _, blocks = _encoder_layers(transformer.auto_model)
        for block in list(blocks)[:freeze_layers]:
            block.requires_grad_(False)
    lora_modules: list[str] = []
    if lora is not None:
        layers = lora.layers if lora.layers is not None else list(range(freeze_layers, len(kept)))
        lora_modules = add_lora(transformer, lora.r, lora.alpha, lora.dropout, lora.target_modules, layers)
    trainable = sum(p.numel() for p in student.parameters() if p.requires_grad)
    total = sum(p.numel() for p in student.parameters())
    info = StudentInfo(
        base=reference,
        base_identity=encoder.identity.to_dict(),
        n_layers_base=n_layers,
        kept_layers=kept,
        frozen_embeddings=freeze_embeddings,
        had_normalize=had_normalize,
        projection=projection,
        trainable_parameters=int(trainable),
        total_parameters=int(total),
        lora_modules=lora_modules,
    )
    return student, info


def fit_linear_map(x: np.ndarray, y: np.ndarray, ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Ridge least squares y ≈ x @ w + b; returns (w [in, out], b [out])."""
    x64 = np.concatenate([x.astype(np.float64), np.ones((len(x), 1))], axis=1)
    gram = x64.T @ x64
    reg = ridge * np.trace(gram) / len(gram) * np.eye(len(gram))
    reg[-1, -1] = 0.0  # never shrink the bias
    sol = np.linalg.solve(gram + reg, x64.T @ y.astype(np.float64))
    return sol[:-1].astype(np.float32), sol[-1].astype(np.float32)


def add_projection(student: Any, w: np.ndarray, b: np.ndarray, device: str) -> Any:
    """Append a Dense layer initialised to the linear map w, b (student space → teacher space)."""
    from sentence_transformers.base.modules import Dense

    dense = Dense(
        w.shape[0],
        w.shape[1],
        activation_function=nn.Identity(),
        init_weight=torch.from_numpy(np.ascontiguousarray(w.T)),
        init_bias=torch.from_numpy(b),
    )
    return _with_modules(student, [*list(student.children()), dense], device)


def finalize_student(student: Any, info: StudentInfo, device: str) -> Any:
    """The model as it is saved: Normalize put back if the base had one, the base's sequence length."""
    from sentence_transformers.base.modules import Normalize

    modules = list(student.children())
    if info.had_normalize and not is_normalize(modules[-1]):
        modules.append(Normalize())
    final = _with_modules(student, modules, device)
    # Training cuts texts at max_seq_length to bound its cost; the saved model reads as far as its
    # base did, or every chunk longer than that (the indexer's are up to 256 tokens) would be cut.
    base_length = info.base_identity.get("max_seq_length")
    if base_length:
        final.max_seq_length = int(base_length)
    return final


def _with_modules(student: Any, modules: list[Any], device: str) -> Any:
    """A model of these modules that keeps the student's prompts and sequence length."""
    from sentence_transformers import SentenceTransformer

    out = SentenceTransformer(
        modules=modules,
        device=device,
        prompts=dict(student.prompts),
        default_prompt_name=student.default_prompt_name,
    )
    out.max_seq_length = student.max_seq_length
    return out


def torch_device_ok(device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device cuda requested but torch sees no GPU")
    return device


def add_lora(
    transformer_module: Any,
    r: int,
    alpha: float,
    dropout: float,
    target_modules: list[str],
    layers: list[int],
) -> list[str]:
    """Freeze the whole transformer and inject trainable LoRA matrices (peft) into `layers`.

    Returns the adapted modules' names. Backpropagation stops below the lowest adapted block, so
    the step cost is that of partial fine-tuning of the same blocks.
    """
    from peft import LoraConfig, inject_adapter_in_model

    auto = transformer_module.auto_model
    _, attr, blocks = _encoder_layers(auto)
    bad = [i for i in layers if not 0 <= i < len(blocks)]
    if bad or not layers:
        raise ValueError(f"lora layers {layers}: indices must be in 0..{len(blocks) - 1}")
    auto.requires_grad_(False)
    # peft annotates lora_alpha as int but scales by alpha / r with any number.
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,  # type: ignore[arg-type]
        lora_dropout=dropout,
        target_modules=target_modules,
        layers_to_transform=sorted(layers),
        layers_pattern=attr,
        bias="none",
    )
    inject_adapter_in_model(config, auto)
    names = [n for n, m in auto.named_modules() if _is_lora_layer(m)]
    if not names:
        raise ValueError(f"lora: no module of layers {layers} matches {target_modules}")
    for n, p in auto.named_parameters():
        p.requires_grad_("lora_" in n)
    return names


def _is_lora_layer(module: Any) -> bool:
    return hasattr(module, "lora_A") and hasattr(module, "base_layer") and "default" in module.lora_A


def extract_and_merge_lora(transformer_module: Any, meta: dict[str, str]) -> Any:
    """Take the LoRA matrices out of the model as a rosetta Adapter and merge them into the weights.

    The merge is `rosetta.models.adapter.merge_adapter`, the same code `rosetta models build` runs
    on the base weights, so the saved model and a rebuilt one are bit-identical. Returns the Adapter;
    the model is left with plain Linear layers holding the merged weights.
    """
    from rosetta.models.adapter import Adapter, merge_adapter

    auto = transformer_module.auto_model
    deltas: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    scalings: set[float] = set()
    lora_modules = [(n, m) for n, m in auto.named_modules() if _is_lora_layer(m)]
    for name, module in lora_modules:
        a = module.lora_A["default"].weight.detach().float().cpu().numpy()
        b = module.lora_B["default"].weight.detach().float().cpu().numpy()
        deltas[f"{name}.weight"] = (a, b)
        scalings.add(float(module.scaling["default"]))
    if len(scalings) != 1:
        raise ValueError(f"lora: expected one scaling for all layers, got {sorted(scalings)}")
    adapter = Adapter(deltas=deltas, scaling=scalings.pop(), meta=meta)
    base_state = {
        k: m.base_layer.weight.detach().float().cpu().numpy()
        for k, m in ((f"{n}.weight", m) for n, m in lora_modules)
    }
    merged = merge_adapter(base_state, adapter)
    for name, module in lora_modules:
        linear = module.base_layer
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(merged[f"{name}.weight"]))
        parent_name, _, child = name.rpartition(".")
        setattr(auto.get_submodule(parent_name) if parent_name else auto, child, linear)
    auto.requires_grad_(False)
    return adapter
