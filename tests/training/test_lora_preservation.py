"""LoRA student and the preservation term on tiny data with the real offline model; the adapter
rebuilds the trained weights bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from rosetta.models import Encoder
from rosetta.models.adapter import Adapter, apply_adapter_to_folder
from training.config import LoraConfig, TrainConfig
from training.losses import DistillRankingLoss
from training.trainer import ADAPTER_FILE, train

pytestmark = pytest.mark.slow


def _config(parallel_dir: Path, out: Path, cache: Path, **kw: object) -> TrainConfig:
    base = {
        "teacher": "multilingual-e5-small",
        "student": "multilingual-e5-small",
        "data": [str(parallel_dir)],
        "languages": ["de", "es"],
        "heldout_per_lang": 2,
        "exclude_eval_sentences": False,
        "max_seq_length": 32,
        "batch_size": 8,
        "max_steps": 8,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.0,
        "logging_steps": 1,
        "save_steps": 0,
        "freeze_layers": 10,
        "cache_dir": str(cache),
        "output_dir": str(out),
        "device": "cpu",
        "precision": "fp32",
    }
    return TrainConfig(**{**base, **kw})


def test_lora_run_ships_an_adapter_that_rebuilds_the_model(
    parallel_dir: Path, tmp_path: Path, models_dir: Path
) -> None:
    torch.manual_seed(0)
    out = tmp_path / "student"
    cfg = _config(
        parallel_dir, out, tmp_path / "cache", lora=LoraConfig(r=4, alpha=8), preservation_weight=1.0
    )
    result = train(cfg, models_dir)
    assert result.student.lora_modules  # only the top 2 blocks' linear layers are adapted
    assert all(".layer.10." in n or ".layer.11." in n for n in result.student.lora_modules)
    adapter = Adapter.load(out / ADAPTER_FILE)
    assert adapter.parameters == result.student.trainable_parameters
    assert (out / ADAPTER_FILE).stat().st_size < 1_000_000
    # The adapter moved the weights (B starts at zero, so a no-op adapter would be all zeros).
    assert any(np.abs(b).max() > 0 for _, b in adapter.deltas.values())

    base_dir = models_dir / "multilingual-e5-small"
    rebuilt = apply_adapter_to_folder(base_dir, out / ADAPTER_FILE, tmp_path / "rebuilt")
    trained_state = load_file(str(out / "model.safetensors"))
    rebuilt_state = load_file(str(rebuilt / "model.safetensors"))
    changed = [k for k in adapter.deltas]
    for k in changed:
        assert np.array_equal(trained_state[k], rebuilt_state[k]), k
    base_state = load_file(str(base_dir / "model.safetensors"))
    assert not np.array_equal(base_state[changed[0]], rebuilt_state[changed[0]])

    texts = ["Die Katze schläft auf dem Sofa.", "The shop closes at six."]
    a = Encoder.load(str(out), models_dir, "cpu").encode_queries(texts)
    b = Encoder.load(str(rebuilt), models_dir, "cpu").encode_queries(texts)
    assert np.allclose(a, b, atol=1e-6)


def test_adapter_for_other_base_weights_is_refused(tmp_path: Path, models_dir: Path) -> None:
    a = np.zeros((2, 384), np.float32)
    b = np.zeros((384, 2), np.float32)
    path = Adapter(
        {"encoder.layer.0.attention.self.query.weight": (a, b)}, 1.0, {"base_weights_sha256": "0" * 64}
    ).save(tmp_path / "a.safetensors")
    with pytest.raises(ValueError, match="trained on base weights 000000000000"):
        apply_adapter_to_folder(models_dir / "multilingual-e5-small", path, tmp_path / "out")


def test_preservation_term_pulls_translation_towards_its_base_vector() -> None:
    torch.manual_seed(0)
    en_target = torch.randn(4, 8)
    base_x = torch.randn(4, 8)
    x = torch.randn(4, 8, requires_grad=True)
    english = en_target.clone()

    def grad(weight: float, labels: torch.Tensor) -> torch.Tensor:
        loss = DistillRankingLoss(None, mse_weight=1.0, ranking_weight=0.0, preservation_weight=weight)
        x.grad = None
        loss.combine([english, x], labels).backward()
        return x.grad.clone()

    without = grad(0.0, en_target)
    with_p = grad(1.0, torch.cat([en_target, base_x], dim=1))
    # The extra gradient is exactly that of MSE(x, base(x)): it points from base(x) to x.
    extra = with_p - without
    assert torch.allclose(extra, 2 * (x - base_x).detach() / x.numel(), atol=1e-6)
    with pytest.raises(ValueError, match=r"\[teacher\(en\) \| base\(x\)\]"):
        DistillRankingLoss(None, ranking_weight=0.0, preservation_weight=1.0).combine([english, x], en_target)
