"""Which engine computes the vectors: torch (fp32 or bf16), or ONNX Runtime (fp32 or int8), and why.

`auto` is a rule derived from bench/ingest.py, bench/encoder_isa.py and bench/quality_gate.py
(results in bench/results/), with `ROSETTA_PRECISION=auto` (the default):
- a CPU with AMX: torch bf16 (a bf16 copy of the model), the fastest measured there (encoder ~3x
  fp32), vectors within cosine 0.9999 of fp32 and within the quality gate (the same vectors as far
  as collections go), for any weights;
- any other CPU with AVX2 (or ARM dot product): ONNX Runtime int8, for weights whose int8 vectors
  passed the quality gate (encoder 1.28-1.65x fp32 there); bf16 is slower than fp32 there
  (0.77-0.80x with AVX512-BF16, 0.29-0.30x AVX512, 0.18-0.20x AVX2);
- everything else (GPUs, unmeasured weights, no onnxruntime): torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from rosetta.models.cpu import bf16_fast_here, int8_fast_here
from rosetta.settings import Backend

__all__ = ["Backend", "BackendChoice", "backends_compatible", "choose_backend"]
BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
FP32_BACKENDS = frozenset({"torch", "onnx"})  # one fp32 graph (torch bf16 is named torch too)

# Weights (sha256 of the fp32 folder) whose int8 passages passed the gate searched with fp32 queries
# (what `auto` does): Tatoeba and STS17 within 1.0 point of torch fp32, cross-language retrieval
# within 0.5 nDCG@10 (+0.13 / +0.14 on 1,200 passages). int8 queries failed against int8 passages
# (-0.47 / -0.64) and against fp32 ones (-0.68 / -0.88): bench/results/quality_gate.json.
INT8_GATE_PASSED: dict[str, str] = {
    "678c282b8f42a23bff9cbb92f3e42aa25519d02847b1b9db335c9f8ee2b52b81": "multilingual-e5-small",
}


@dataclass(frozen=True)
class BackendChoice:
    backend: str  # computes the passages (and the collection's identity names it)
    reason: str
    # Computes search queries when not `backend`: ONNX Runtime fp32 under `auto` on a CPU, the
    # torch fp32 vectors exactly, fastest for one short text (9-11 ms on one thread vs 23 torch
    # fp32, 30 torch bf16), and the side of int8 collections that passes the gate (fp32 queries).
    query_backend: str | None = None


def backends_compatible(weights_sha256: str, stored: str, incoming: str) -> bool:
    """May a collection written by backend `stored` take vectors (queries) from `incoming`?

    torch and onnx compute the same fp32 graph (cosine 1.0000 measured; torch bf16 is within 0.9999
    on the ingest bench and within the quality gate, and shares the name). int8 vectors are close
    but not equal: fp32 queries into an int8 collection stayed within the gate for measured weights;
    int8 queries into an fp32 collection lost 0.68 / 0.88 nDCG@10 and are refused.
    """
    if stored == incoming or {stored, incoming} <= FP32_BACKENDS:
        return True
    return stored == "onnx-int8" and incoming in FP32_BACKENDS and weights_sha256 in INT8_GATE_PASSED


def choose_backend(
    requested: str, device: str, precision: str, weights_sha256: str, unsupported: str | None
) -> BackendChoice:
    """Resolve `requested` (auto or a backend) for this model on this machine, with the reason.

    `unsupported` is why the model cannot be exported to ONNX (None if it can).
    """
    from rosetta.models.onnx_backend import onnxruntime_available

    if requested != "auto":
        if requested != "torch":
            if device.split(":")[0] != "cpu":
                raise ValueError(
                    f"encoder backend {requested} runs on the CPU only; the device is {device} "
                    "(set ROSETTA_DEVICE=cpu or ROSETTA_ENCODER_BACKEND=torch)"
                )
            if not onnxruntime_available():
                raise ValueError(f"encoder backend {requested} needs onnxruntime: pip install onnxruntime")
            if unsupported:
                raise ValueError(
                    f"encoder backend {requested}: {unsupported}; use ROSETTA_ENCODER_BACKEND=torch"
                )
        return BackendChoice(requested, "set by ROSETTA_ENCODER_BACKEND")
    if device.split(":")[0] != "cpu":
        return BackendChoice("torch", f"device {device}: torch in {precision} with length-sorted batches")
    choice = _auto_on_cpu(precision, weights_sha256, unsupported)
    if onnxruntime_available() and not unsupported:
        return BackendChoice(choice.backend, choice.reason + "; queries: ONNX Runtime fp32", "onnx")
    return choice


def _auto_on_cpu(precision: str, weights_sha256: str, unsupported: str | None) -> BackendChoice:
    from rosetta.models.onnx_backend import onnxruntime_available

    if precision == "auto" and bf16_fast_here():
        return BackendChoice(
            "torch", "this CPU has AMX: torch bf16 is the fastest measured (~3x fp32, same vectors)"
        )
    if precision not in ("auto", "fp32"):
        return BackendChoice("torch", f"ROSETTA_PRECISION={precision} is a torch setting")
    if weights_sha256 not in INT8_GATE_PASSED:
        return BackendChoice("torch", "int8 quality not measured for these weights")
    if not onnxruntime_available():
        return BackendChoice("torch", "onnxruntime is not installed")
    if unsupported:
        return BackendChoice("torch", unsupported)
    if not int8_fast_here():
        return BackendChoice("torch", "this CPU lacks AVX2/dot-product instructions for fast int8")
    return BackendChoice(
        "onnx-int8",
        "fastest measured on this CPU (AVX2 or better) and passes the quality gate for these weights",
    )
