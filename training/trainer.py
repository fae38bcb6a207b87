"""A distillation run: data → teacher targets (cached) → student → SentenceTransformerTrainer → model."""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from rosetta.models.precision import autocast, resolve_precision
from rosetta.progress import make_progress
from rosetta.settings import resolve_device
from training.batching import LengthGroupedBatchSampler
from training.config import FilterConfig, TrainConfig
from training.data import Pair, ParallelData, ParallelDataError, load_parallel, source_from_spec
from training.evaluation.heldout import heldout_metrics, mean_over_langs
from training.evaluation.runner import default_eval_dir
from training.student import (
    StudentInfo,
    Teacher,
    add_projection,
    build_student,
    extract_and_merge_lora,
    finalize_student,
    fit_linear_map,
    load_teacher,
)
from training.teacher_cache import TeacherCache, teacher_cache_key

META_FILE = "rosetta_training.json"
ADAPTER_FILE = "adapter.safetensors"


def eval_sentences(eval_dir: Path) -> set[str]:
    """Every sentence of the evaluation sets, so training never sees test data."""
    from training.evaluation.sts import load_sts17, load_stsb, stsb_languages
    from training.evaluation.tatoeba import load_tatoeba, tatoeba_languages

    texts: set[str] = set()
    if (eval_dir / "tatoeba").is_dir():
        for code in tatoeba_languages(eval_dir):
            src, eng = load_tatoeba(eval_dir, code)
            texts.update(src)
            texts.update(eng)
    if (eval_dir / "sts17").is_dir():
        for s1, s2, _ in load_sts17(eval_dir).values():
            texts.update(s1)
            texts.update(s2)
    if (eval_dir / "stsb_multi_mt").is_dir():
        for lang in stsb_languages(eval_dir):
            s1, s2, _ = load_stsb(eval_dir, lang)
            texts.update(s1)
            texts.update(s2)
    return texts


def apply_prompts(texts: list[str], prompts: dict[str, str], mode: str, rng: random.Random) -> list[str]:
    """Prefix student inputs with its prompts so that prompted encoding lands in the teacher space."""
    query = prompts.get("query", "")
    document = next((prompts[k] for k in ("document", "passage", "corpus") if k in prompts), "")
    if mode == "none" or not (query or document):
        return list(texts)
    if mode == "query":
        return [query + t for t in texts]
    if mode == "document":
        return [document + t for t in texts]
    # The choice depends on the text (and seed), not on its position: the same sentence always gets
    # the same prompt, so the no-duplicates batch sampler of the ranking objective still sees it
    # as a duplicate.
    salt = str(rng.random())
    return [
        (query if hashlib.blake2b((salt + t).encode(), digest_size=1).digest()[0] < 128 else document) + t
        for t in texts
    ]


def encode_raw(model: Any, texts: list[str], prompt: str, batch_size: int) -> np.ndarray:
    """Encode with the training-head model (no Normalize when distilling raw targets)."""
    return np.asarray(
        model.encode(
            texts, prompt=prompt, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        ),
        dtype=np.float32,
    )


def heldout_eval(
    model: Any, pairs: list[Pair], targets: np.ndarray, batch_size: int
) -> dict[str, dict[str, float]]:
    if not pairs:
        return {}
    prompt = model.prompts.get("query", "")
    en = encode_raw(model, [p.english for p in pairs], prompt, batch_size)
    tr = encode_raw(model, [p.translation for p in pairs], prompt, batch_size)
    return heldout_metrics(pairs, targets, en, tr)


def _progress_callback(total_pairs_per_step: int, console: Console) -> Any:
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """Rich bar (terminal) plus one plain line per log step (log files): loss, pairs/s, ETA."""

        def __init__(self) -> None:
            self.bar = make_progress(console)
            self.task: Any = None
            self.start = 0.0
            self.start_step = 0
            self.losses: list[tuple[int, float]] = []

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.start = time.monotonic()
            self.start_step = state.global_step
            self.task = self.bar.add_task(
                "training", total=state.max_steps, completed=state.global_step, unit="step"
            )
            if console.is_terminal:
                self.bar.start()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.bar.update(self.task, completed=state.global_step)

        def rate(self, step: int) -> float:
            elapsed = max(time.monotonic() - self.start, 1e-9)
            return (step - self.start_step) * total_pairs_per_step / elapsed

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            logs = logs or {}
            step = state.global_step
            pairs_s = self.rate(step)
            steps_s = pairs_s / total_pairs_per_step if total_pairs_per_step else 0
            eta = (state.max_steps - step) / steps_s if steps_s else float("nan")
            parts = [f"step {step}/{state.max_steps}"]
            if "loss" in logs:
                self.losses.append((step, float(logs["loss"])))
                parts.append(f"loss {logs['loss']:.5f}")
            parts += [
                f"{k} {v:.4f}" for k, v in logs.items() if k.startswith("eval_") and isinstance(v, float)
            ]
            parts += [f"{pairs_s:.1f} pairs/s", f"ETA {eta / 60:.1f} min"]
            self.bar.console.print(" · ".join(parts), highlight=False)

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.bar.stop()

    return ProgressCallback()


def _heldout_evaluator(pairs: list[Pair], targets: np.ndarray, batch_size: int) -> Any:
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

    class HeldOutEvaluator(BaseEvaluator):
        """MSE×100 to the teacher and translation accuracy on the held-out pairs, during training."""

        def __init__(self) -> None:
            super().__init__()
            self.primary_metric = "mse_x100"
            self.greater_is_better = False

        def __call__(
            self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
        ) -> dict[str, float]:
            per_lang = heldout_eval(model, pairs, targets, batch_size)
            metrics = {
                "mse_x100": mean_over_langs(per_lang, "mse_x100"),
                "src2trg_accuracy": mean_over_langs(per_lang, "src2trg_accuracy"),
                "trg2src_accuracy": mean_over_langs(per_lang, "trg2src_accuracy"),
            }
            metrics = self.prefix_name_to_metrics(metrics, "heldout")
            self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
            return metrics

    return HeldOutEvaluator()


@dataclass
class TrainResult:
    output_dir: Path
    config: TrainConfig
    student: StudentInfo
    data: dict[str, dict[str, Any]]
    teacher_identity: dict[str, Any]
    heldout_before: dict[str, dict[str, float]]
    heldout_after: dict[str, dict[str, float]]
    losses: list[tuple[int, float]]
    steps: int
    precision: str
    train_pairs: int
    pairs_seen: int
    train_seconds: float
    teacher_seconds: float
    total_seconds: float

    @property
    def pairs_per_second(self) -> float:
        return self.pairs_seen / self.train_seconds if self.train_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["output_dir"] = str(self.output_dir)
        d["config"] = self.config.to_jsonable()
        d["pairs_per_second"] = round(self.pairs_per_second, 2)
        return d


def init_projection(
    cfg: TrainConfig,
    student: Any,
    info: StudentInfo,
    data: ParallelData,
    targets: np.ndarray,
    device: str,
    precision: str,
    console: Console,
) -> tuple[Any, StudentInfo]:
    """Fit the Dense head by least squares on a per-language sample of the training pairs."""
    rng = random.Random(cfg.seed + 1)
    per_lang: dict[str, list[int]] = {}
    for i, p in enumerate(data.train):
        per_lang.setdefault(p.lang, []).append(i)
    idx = sorted(i for ids in per_lang.values() for i in ids[: cfg.init_pairs_per_lang])
    en = apply_prompts([data.train[i].english for i in idx], student.prompts, cfg.prompt_mode, rng)
    tr = apply_prompts([data.train[i].translation for i in idx], student.prompts, cfg.prompt_mode, rng)
    t0 = time.monotonic()
    with autocast(precision, device):
        x = encode_raw(student, en + tr, "", cfg.batch_size)
    y = np.concatenate([targets[idx], targets[idx]])
    w, b = fit_linear_map(x, y)
    fit_mse = float(np.mean((x @ w + b - y) ** 2) * 100)
    console.print(
        f"init projection: least squares on {len(x)} sentences in {time.monotonic() - t0:.0f}s, "
        f"MSE×100 {fit_mse:.3f} (before any step)"
    )
    info.projection = "dense-lstsq"
    return add_projection(student, w, b, device), info


def base_translation_targets(
    cfg: TrainConfig,
    teacher: Teacher,
    texts: list[str],
    models_dir: Path,
    device: str,
    precision: str,
    cache_root: Path,
) -> np.ndarray:
    """The untrained student's raw vectors of the translations (the preservation targets), cached.

    A self-teacher run reuses the loaded teacher (same weights, same cache); otherwise the
    student's base model is loaded as a second frozen model.
    """
    from rosetta.models import Encoder

    base = teacher
    student_sha = Encoder.load(cfg.student, models_dir, device).identity.weights_sha256
    if student_sha != teacher.encoder.identity.weights_sha256:
        base = load_teacher(cfg.student, models_dir, device, normalized_target=cfg.normalize_target)
    ident = base.encoder.identity
    cache = TeacherCache(
        cache_root,
        teacher_cache_key(
            ident.weights_sha256, cfg.normalize_target, int(base.model.max_seq_length or 512), precision
        ),
        meta={"teacher": ident.to_dict(), "normalized": cfg.normalize_target},
    )
    return cache.get_or_compute(texts, base.encode_fn(cfg.teacher_batch_size, precision))


def lora_meta(cfg: TrainConfig, info: StudentInfo) -> dict[str, str]:
    """What travels in the adapter file: its base (checked when merging) and how it was made."""
    assert cfg.lora is not None
    return {
        "base": info.base,
        "base_weights_sha256": info.base_identity["weights_sha256"],
        "r": str(cfg.lora.r),
        "alpha": str(cfg.lora.alpha),
        "modules": ",".join(info.lora_modules),
        "languages": ",".join(cfg.languages),
        "objective": cfg.objective,
    }


def prepare_data(
    cfg: TrainConfig, models_dir: Path | None = None, device: str = "cpu", console: Console | None = None
) -> ParallelData:
    eval_dir = default_eval_dir(cfg.eval_dir)
    exclude = eval_sentences(eval_dir) if cfg.exclude_eval_sentences and eval_dir else None
    sources = [source_from_spec(s, cfg.languages) for s in cfg.data]
    data = load_parallel(
        sources,
        langs=cfg.languages,
        max_pairs_per_lang=cfg.max_pairs_per_lang,
        max_chars=cfg.max_chars,
        dedup=cfg.dedup,
        exclude=exclude,
        heldout_per_lang=cfg.heldout_per_lang,
        seed=cfg.seed,
    )
    if cfg.filter is not None:
        if models_dir is None:
            raise ValueError("the data filter needs models_dir to load its scoring model")
        filter_training_pairs(cfg, cfg.filter, data, models_dir, device, console or Console(stderr=True))
    return data


def filter_training_pairs(
    cfg: TrainConfig, fc: FilterConfig, data: ParallelData, models_dir: Path, device: str, console: Console
) -> None:
    """Apply the `filter:` option to data.train in place, recording per-language counts in data.filtered.

    Runs after the cap and the held-out split: scoring costs an embedding per sentence, so only the
    pairs that would be trained on are scored, and the held-out set stays the same with or without
    the filter (runs stay comparable).
    """
    from rosetta.models import Encoder
    from training.filtering import FilterRules, filter_pairs

    encoder = Encoder.load(fc.model or cfg.student, models_dir, device)

    def embed(texts: list[str]) -> np.ndarray:
        return encoder.encode_queries(texts, batch_size=cfg.teacher_batch_size)

    with make_progress(console) as bar:
        task = bar.add_task("filter", total=len(data.train), unit="pair")
        rules = FilterRules(fc.min_score, fc.k, fc.check_lang, fc.chunk_size)
        kept, stats = filter_pairs(data.train, embed, rules, on_chunk=lambda n: bar.advance(task, n))
    data.train = kept
    for lang, st in stats.items():
        data.stats[lang].train = st.kept
        data.filtered[lang] = {k: v for k, v in st.to_dict().items() if k != "lang"}
    empty = sorted(lang for lang, st in stats.items() if st.kept == 0)
    if empty:
        raise ParallelDataError(f"the filter (margin ≥ {fc.min_score}) kept no pair for: {', '.join(empty)}")
    console.print(
        "filter: kept "
        + ", ".join(f"{lang} {st.kept}/{st.read}" for lang, st in stats.items())
        + f" (margin ≥ {fc.min_score}, k={fc.k})"
    )


def train(
    cfg: TrainConfig, models_dir: Path, resume: bool = False, console: Console | None = None
) -> TrainResult:
    """Run one distillation; returns what the report needs. The model lands in cfg.output_dir."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    from training.losses import build_loss

    console = console or Console(stderr=True)
    t_start = time.monotonic()
    device = resolve_device(cfg.device)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.yaml").write_text(cfg.to_yaml())

    data = prepare_data(cfg, models_dir, device, console)
    console.print(
        f"data: {len(data.train)} train / {len(data.heldout)} held-out pairs, "
        f"langs {', '.join(data.langs)}; malformed lines skipped: {data.malformed_total()}"
    )

    use_cuda = device.startswith("cuda")
    precision = resolve_precision(cfg.precision, device)
    teacher = load_teacher(cfg.teacher, models_dir, device, normalized_target=cfg.normalize_target)
    ident = teacher.encoder.identity
    cache_root = cfg.cache_dir or (models_dir.parent / "teacher_cache")
    cache = TeacherCache(
        cache_root,
        teacher_cache_key(
            ident.weights_sha256, cfg.normalize_target, int(teacher.model.max_seq_length or 512), precision
        ),
        meta={"teacher": ident.to_dict(), "normalized": cfg.normalize_target},
    )
    t0 = time.monotonic()
    all_pairs = data.train + data.heldout
    targets = cache.get_or_compute(
        [p.english for p in all_pairs], teacher.encode_fn(cfg.teacher_batch_size, precision)
    )
    base_targets = None
    if cfg.preservation_weight:
        base_targets = base_translation_targets(
            cfg, teacher, [p.translation for p in data.train], models_dir, device, precision, cache_root
        )
    teacher_seconds = time.monotonic() - t0
    train_targets, held_targets = targets[: len(data.train)], targets[len(data.train) :]
    del teacher  # free its memory before the student trains

    student, info = build_student(
        cfg.student,
        models_dir,
        device,
        target_dim=int(targets.shape[1]),
        normalized_target=cfg.normalize_target,
        freeze_embeddings=cfg.freeze_embeddings,
        keep_layers=cfg.keep_layers,
        max_seq_length=cfg.max_seq_length,
        freeze_layers=cfg.freeze_layers,
        lora=cfg.lora,
    )
    if cfg.init_projection == "lstsq":
        student, info = init_projection(cfg, student, info, data, train_targets, device, precision, console)
    if base_targets is not None and base_targets.shape[1] != int(train_targets.shape[1]):
        raise ValueError(
            "preservation_weight needs the student's base output to have the teacher's "
            f"dimension ({base_targets.shape[1]} vs {train_targets.shape[1]})"
        )
    console.print(
        f"student: {info.base}, layers {info.kept_layers} of {info.n_layers_base}, "
        f"trainable {info.trainable_parameters / 1e6:.1f}M of {info.total_parameters / 1e6:.1f}M"
    )
    heldout_before = heldout_eval(student, data.heldout, held_targets, cfg.batch_size)

    rng = random.Random(cfg.seed)
    columns = {
        "english": apply_prompts([p.english for p in data.train], student.prompts, cfg.prompt_mode, rng),
        "translation": apply_prompts(
            [p.translation for p in data.train], student.prompts, cfg.prompt_mode, rng
        ),
        "label": train_targets if base_targets is None else np.concatenate([train_targets, base_targets], 1),
    }
    dataset = Dataset.from_dict(columns)
    loss = build_loss(cfg, student)

    evaluator = _heldout_evaluator(data.heldout, held_targets, cfg.batch_size) if data.heldout else None
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_ratio,  # a float < 1 is a ratio in transformers v5
        weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_steps > 0 else "no",
        save_steps=max(cfg.save_steps, 1),
        save_total_limit=cfg.save_total_limit,
        eval_strategy="steps" if cfg.eval_steps > 0 and evaluator is not None else "no",
        eval_steps=cfg.eval_steps if cfg.eval_steps > 0 else None,
        seed=cfg.seed,
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        use_cpu=not use_cuda and device == "cpu",
        disable_tqdm=True,
        report_to="none",
        dataloader_drop_last=cfg.objective != "mse",
        batch_sampler=(
            LengthGroupedBatchSampler
            if cfg.group_by_length
            else "no_duplicates"
            if cfg.objective != "mse"
            else "batch_sampler"
        ),
    )
    callback = _progress_callback(cfg.batch_size, console)
    trainer = SentenceTransformerTrainer(
        model=student,
        args=args,
        train_dataset=dataset,
        loss=loss,
        evaluator=evaluator,
        callbacks=[callback],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # our callback prints a richer line per log step
    resume_from: bool | None = None
    if resume:
        has_ckpt = any((out / "checkpoints").glob("checkpoint-*"))
        resume_from = True if has_ckpt else None
        if not has_ckpt:
            console.print("--resume: no checkpoint yet, starting from the beginning")
    t1 = time.monotonic()
    start_step = 0
    state = trainer.train(resume_from_checkpoint=resume_from)
    train_seconds = time.monotonic() - t1
    start_step = callback.start_step
    steps = int(state.global_step)

    heldout_after = heldout_eval(student, data.heldout, held_targets, cfg.batch_size)
    if cfg.lora is not None:
        adapter = extract_and_merge_lora(student[0], lora_meta(cfg, info))
        adapter.save(out / ADAPTER_FILE)
        console.print(
            f"adapter: {adapter.parameters / 1e6:.2f}M parameters → {out / ADAPTER_FILE} "
            f"({(out / ADAPTER_FILE).stat().st_size / 1e6:.1f} MB)"
        )
    final = finalize_student(student, info, device)
    final.save(str(out), create_model_card=False)
    result = TrainResult(
        output_dir=out,
        config=cfg,
        student=info,
        data=data.summary(),
        teacher_identity=ident.to_dict(),
        heldout_before=heldout_before,
        heldout_after=heldout_after,
        losses=callback.losses,
        steps=steps,
        precision=precision,
        train_pairs=len(data.train),
        pairs_seen=(steps - start_step) * cfg.batch_size,
        train_seconds=round(train_seconds, 1),
        teacher_seconds=round(teacher_seconds, 1),
        total_seconds=round(time.monotonic() - t_start, 1),
    )
    (out / META_FILE).write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    return result
