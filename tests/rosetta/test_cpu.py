"""The CPU facts `auto` decides by, checked on a CPU with extensions really hidden from CPUID
(bench/isa_mask.py, through Linux's CPUID faulting) where this machine allows it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rosetta.models import cpu

# bench/ is not a package: load its module by path rather than putting bench/ on sys.path.
_spec = importlib.util.spec_from_file_location(
    "isa_mask", Path(__file__).resolve().parents[2] / "bench" / "isa_mask.py"
)
assert _spec is not None and _spec.loader is not None
isa_mask = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(isa_mask)

needs_mask = pytest.mark.skipif(
    not isa_mask.supported() or "avx512f" not in cpu.cpu_flags() or shutil.which("gcc") is None,
    reason="needs an AVX512 CPU with CPUID faulting (cpuid_fault), and gcc, to hide extensions for real",
)

PROBE = """
import json
import torch
from numpy._core._multiarray_umath import __cpu_features__ as numpy_features
from rosetta.models.backends import INT8_GATE_PASSED, choose_backend
from rosetta.models.cpu import isa_flags, isa_mask
choice = choose_backend("auto", "cpu", "auto", next(iter(INT8_GATE_PASSED)), None)
print(json.dumps({
    "mask": isa_mask(),
    "flags": isa_flags(),
    "aten": torch.backends.cpu.get_cpu_capability(),
    "numpy_avx512f": bool(numpy_features.get("AVX512F")),
    "backend": choice.backend,
    "reason": choice.reason,
}))
"""


def probe(level: str) -> dict:
    env = isa_mask.masked_env(level)
    env["PYTHONFAULTHANDLER"] = "1"  # a SIGSEGV handler installed after the mask's must not break it
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@needs_mask
def test_an_avx2_cpu_is_avx2_to_every_library_and_to_auto() -> None:
    got = probe("avx2")
    assert got["mask"] == "avx2"
    assert not any(f.startswith(("avx512", "amx", "avx_vnni")) for f in got["flags"]), got["flags"]
    assert "avx2" in got["flags"]
    # The kernels follow CPUID: ATen and numpy dispatch to AVX2 code, not AVX512.
    assert got["aten"] == "AVX2" and not got["numpy_avx512f"]
    # No AMX: bf16 is slower than fp32 there, so `auto` takes int8 passages for measured weights.
    assert got["backend"] == "onnx-int8", got["reason"]


@needs_mask
def test_avx512_without_bf16_keeps_avx512_and_loses_amx() -> None:
    got = probe("avx512")
    assert "avx512f" in got["flags"]
    assert ("avx512_vnni" in got["flags"]) == ("avx512_vnni" in cpu.cpu_flags())  # kept, as on Ice Lake
    assert not any(f.startswith(("amx", "avx512_bf16")) for f in got["flags"])
    assert got["aten"] == "AVX512" and got["numpy_avx512f"]
    assert got["backend"] == "onnx-int8"


def test_native_flags_are_unmasked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROSETTA_ISA_MASK", raising=False)
    cpu.cpu_flags.cache_clear()
    try:
        assert cpu.isa_mask() == "native"
        flags = cpu.cpu_flags()
        if Path("/proc/cpuinfo").exists() and os.uname().machine == "x86_64":
            assert "sse2" in flags  # every x86-64 CPU; proves the file was read
        monkeypatch.setenv("ROSETTA_ISA_MASK", "avx2")
        cpu.cpu_flags.cache_clear()
        assert cpu.isa_mask() == "avx2"
        assert cpu.cpu_flags() <= flags
        assert not any(f.startswith(("avx512", "amx")) for f in cpu.cpu_flags())
    finally:
        cpu.cpu_flags.cache_clear()


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(SystemExit, match="expected one of"):
        isa_mask.masked_env("avx9000")
