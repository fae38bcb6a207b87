"""Compute precision for encoding and training: fp32, or bf16/fp16 autocast where the hardware has it.

On CPUs with AMX bf16 matmuls run natively: encoding is ~2.6× (autocast) to ~3× (a bf16 copy of
the model, `rosetta.models.bf16`) and a training step ~2× faster than fp32 (without AMX, bf16
encoding is slower than fp32, even with AVX512-BF16), and the vectors keep cosine ≥ 0.9999 to fp32
ones (ingest bench; the tests hold them to 0.9995), so indexes built either way agree. Training and
GPUs use autocast: fp32 weights, the matmuls in the lower precision.
"""

from __future__ import annotations

import contextlib

from rosetta.models.cpu import bf16_fast_here


def resolve_precision(precision: str, device: str) -> str:
    """Turn `auto` into bf16 where it is native (recent GPUs) or faster than fp32 (CPUs with AMX,
    see `bf16_fast_here`), else fp16 on GPUs and fp32 on CPUs."""
    if precision != "auto":
        return precision
    import torch

    kind = device.split(":")[0]
    if kind == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if kind == "cpu":
        return "bf16" if bf16_fast_here() else "fp32"
    return "fp32"


def autocast(precision: str, device: str) -> contextlib.AbstractContextManager:
    """Autocast for bf16/fp16 (what the trainer does for its steps), a no-op for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.split(":")[0], dtype=dtype)
