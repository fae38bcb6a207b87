"""Training configuration: a YAML file, then CLI flags on top (flags win)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from rosetta.settings import Precision

PromptMode = Literal["random", "none", "query", "document"]


class FilterConfig(BaseModel):
    """Score the training pairs with `training.filtering` before training (LaBSE-style cleaning)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # scoring model; None = the student base
    min_score: float = 1.0  # minimum margin (E5 cosines are compressed: real pairs score ~1.1+)
    k: int = 4
    check_lang: bool = True
    chunk_size: int = 2000


class LoraConfig(BaseModel):
    """Train low-rank adapters (peft LoRA) instead of the layers' weights: the result is a few-MB adapter."""

    model_config = ConfigDict(extra="forbid")

    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    # Linear layers of each adapted transformer block (BERT/XLM-R names).
    target_modules: list[str] = Field(
        default_factory=lambda: [
            "query",
            "key",
            "value",
            "attention.output.dense",
            "intermediate.dense",
            "output.dense",
        ]
    )
    # Blocks to adapt; None = every block above `freeze_layers` (the same blocks partial fine-tuning trains).
    layers: list[int] | None = None


class TrainConfig(BaseModel):
    """Everything a distillation run depends on; saved next to the model and in the report."""

    model_config = ConfigDict(extra="forbid")

    teacher: str = "all-MiniLM-L6-v2"
    student: str = "multilingual-e5-small"
    # Paths (file or folder of en-XXX.tsv[.gz]) or {hf: name, lang: xx, english_column, ...}.
    data: list[str | dict[str, Any]] = Field(
        default_factory=lambda: list[str | dict[str, Any]](["../shared/data/parallel"])
    )
    languages: list[str] = Field(default_factory=lambda: ["de", "es", "fr", "it", "ar", "tr", "zh", "ru"])
    max_pairs_per_lang: int | None = 10_000
    max_chars: int | None = 300
    dedup: bool = True
    heldout_per_lang: int = 200
    # Drop every sentence of the eval sets (found in eval_dir) from training.
    exclude_eval_sentences: bool = True
    eval_dir: Path | None = None
    # Margin / language / duplicate filter on the training pairs (not the held-out ones); off if None.
    filter: FilterConfig | None = None

    # Teacher target: the raw (un-normalized) output unless told otherwise.
    normalize_target: bool = False
    # Student prompts while training: "random" = each text gets the query or document prompt at
    # random, so both prompted uses land in the teacher space; "none" = raw text.
    prompt_mode: PromptMode = "random"
    freeze_embeddings: bool = True
    keep_layers: int | list[int] | None = None
    max_seq_length: int = 128
    freeze_layers: int = 0
    # "lstsq": add a Dense head initialised to the least-squares map from the student's output to
    # the teacher targets (on init_pairs_per_lang pairs, both sides): the closed-form optimum of
    # the MSE objective for that layer, so training starts aligned instead of from a foreign space.
    init_projection: Literal["none", "lstsq"] = "none"
    # None: fine-tune the unfrozen blocks' weights; set: train LoRA adapters on them instead.
    lora: LoraConfig | None = None
    init_pairs_per_lang: int = 500

    objective: Literal["mse", "ranking", "mse+ranking"] = "mse"
    ranking_scale: float = 20.0
    ranking_margin: float = 0.3
    ranking_weight: float = 1.0
    # What translations are ranked against: the student's English (LaBSE) or the fixed teacher
    # targets (English keeps the teacher geometry); see training.losses.DistillRankingLoss.
    ranking_target: Literal["student", "teacher"] = "student"
    mse_weight: float = 1.0
    # Weight of MSE(student(x), base(x)) for the non-English side x, base = the untrained student:
    # each language keeps its own geometry while it is pulled towards English.
    preservation_weight: float = 0.0

    # Batches of similar-length pairs (less padding; no text twice in a batch either way).
    group_by_length: bool = True
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 64
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    eval_steps: int = 0  # 0: only at the end
    save_steps: int = 500
    save_total_limit: int = 2
    logging_steps: int = 10
    output_dir: Path = Path(".rosetta/trained/student")
    cache_dir: Path | None = None  # teacher cache; default <models_dir>/../teacher_cache
    seed: int = 42
    device: str = "auto"
    precision: Precision = "auto"
    teacher_batch_size: int = 128

    @field_validator("languages")
    @classmethod
    def _non_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one language is needed")
        return v

    @classmethod
    def from_yaml(cls, path: Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
        data: dict[str, Any] = {}
        if path is not None:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: expected a mapping of options")
            data.update(loaded)
        for k, v in (overrides or {}).items():
            if v is None:
                continue
            if isinstance(v, dict) and isinstance(data.get(k), dict):
                data[k] = {**data[k], **v}  # a flag sets one field of a nested option, not all of it
            else:
                data[k] = v
        return cls(**data)

    def to_jsonable(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_jsonable(), sort_keys=False, allow_unicode=True)
