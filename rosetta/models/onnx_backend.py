"""ONNX Runtime encoding: export a sentence-transformers model offline, fuse it, quantize it.

Built once per weights (keyed by their sha256) into the model cache, atomically, and reused:
`model.onnx` is the exported graph with BERT fusions (attention, skip-LayerNorm, bias-GELU);
`model_int8.onnx` adds dynamic int8 quantization of every weight matrix.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model_int8.onnx"}
QUANTIZATION = {"onnx": "none", "onnx-int8": "dynamic-int8"}
OPSET = 17
BUILD_VERSION = 1


class OnnxUnavailableError(RuntimeError):
    """onnxruntime is missing, or the model is not one this exporter supports."""


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def supported(model: Any) -> str | None:
    """None if `model` (a SentenceTransformer) can run on ONNX Runtime here, else why not."""
    modules = [type(m).__name__ for m in model.children()]
    if modules[:2] != ["Transformer", "Pooling"] or any(m not in {"Normalize"} for m in modules[2:]):
        return f"modules {modules}: only Transformer + Pooling (+ Normalize) models are exported"
    pooling = model[1]
    if pooling.pooling_mode not in ("mean", ("mean",)) or not getattr(pooling, "include_prompt", True):
        return f"pooling {pooling.pooling_mode}: only mean pooling over all tokens is exported"
    config = model[0].auto_model.config
    if config.model_type not in {"bert", "xlm-roberta", "roberta"}:
        return f"model type {config.model_type}: only BERT-like encoders are exported"
    return None


def build_dir(models_dir: Path, name: str, weights_sha256: str) -> Path:
    # BUILD_VERSION changes whenever export or quantization settings do, so stale builds are never used.
    return models_dir / "onnx" / f"{name}-{weights_sha256[:16]}-v{BUILD_VERSION}"


def ensure_built(model: Any, target: Path, backend: str) -> Path:
    """Return the ONNX file for `backend`, exporting (and quantizing) it on first use."""
    path = target / ONNX_FILES[backend]
    if path.exists():
        return path
    reason = supported(model)
    if reason:
        raise OnnxUnavailableError(reason)
    target.mkdir(parents=True, exist_ok=True)
    fp32 = target / ONNX_FILES["onnx"]
    if not fp32.exists():
        _atomic(fp32, lambda tmp: _export_fused(model, tmp))
    if backend == "onnx-int8":
        _atomic(path, lambda tmp: _quantize_int8(fp32, tmp))
    return path


def _atomic(final: Path, make: Any) -> None:
    # Two processes may build at once: each writes its own temporary file, the rename is atomic.
    fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        make(tmp)
        tmp.chmod(0o644)  # mkstemp makes it private; a shared cache should be readable by all
        tmp.replace(final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _export_fused(model: Any, out: Path) -> None:
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModel

    hf = model[0].auto_model
    config = hf.config
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp:
        # Eager attention exports as plain MatMul/Softmax, the pattern ORT's attention fusion knows;
        # reload rather than switch the live model, which keeps serving torch callers.
        hf_dir = Path(tmp) / "hf"
        hf.save_pretrained(hf_dir)
        eager = AutoModel.from_pretrained(str(hf_dir), attn_implementation="eager").eval()

        class Hidden(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        ids = torch.full((2, 8), 5, dtype=torch.long)
        raw = Path(tmp) / "raw.onnx"
        axes = {0: "batch", 1: "tokens"}
        # The tracer warns about data-dependent shapes that are fixed for BERT (tested: vectors match).
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Hidden(eager),
                (ids, torch.ones_like(ids)),
                str(raw),
                input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        fused = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
            opt_level=0,
        )
        fused.save_model_to_file(str(out))
    (out.parent / "fusion.json").write_text(json.dumps(fused.get_fused_operator_statistics()))


def _quantize_int8(source: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel int8 weights, activations quantized per batch: as fast as per-tensor scales here
    # (1.78x vs 1.81x torch) but closer to fp32 (cosine 0.996 vs 0.984 mean on passages). Quantizing
    # only the MatMuls (embeddings left fp32) was no closer and slower.
    with _quiet_root_logger():
        quantize_dynamic(
            str(source),
            str(out),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    # onnxruntime.quantization logs advice through the root logger.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


class OnnxRunner:
    """Runs an exported encoder: tokenize, sort by length (little padding), run, mean-pool, normalize."""

    def __init__(self, path: Path, tokenizer: Any, max_seq_length: int, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _default_threads()
        options.inter_op_num_threads = 1
        # Spinning worker threads burn the cores the pipeline's reader and writer threads need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        # Sorted by characters, longest first. Sorting by token count pads less (1.2x faster here),
        # but dynamic int8 scales activations per batch, so batch composition moves the vectors;
        # the quality gate measured int8 passages in these batches (fp32 queries on them pass,
        # bench/results/quality_gate.json), and that is what `auto` relies on.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            batch = self.tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_seq_length,
                return_tensors="np",
            )
            mask = batch["attention_mask"].astype(np.int64)
            hidden = self.session.run(
                None, {"input_ids": batch["input_ids"].astype(np.int64), "attention_mask": mask}
            )[0]
            weights = mask[..., None].astype(np.float32)
            vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            # Like the torch path (normalize_embeddings=True): unit vectors whatever the model's modules.
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
        assert out is not None
        return out


def _default_threads() -> int:
    import torch

    # The same count torch uses, so backends compare at equal parallelism.
    return torch.get_num_threads()
