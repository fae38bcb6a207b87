"""Training objectives: MSE distillation, LaBSE translation ranking with additive margin, or both.

sentence-transformers' MultipleNegativesRankingLoss has no additive margin, so the ranking part
is written here (a few lines); the MSE part is the library's MSELoss.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.config import TrainConfig


def additive_margin_ranking(src: Tensor, trg: Tensor, scale: float = 20.0, margin: float = 0.3) -> Tensor:
    """Bidirectional in-batch softmax over cosine similarities, the positive lowered by `margin`.

    Row i must pick column i among all translations in the batch (and column i row i). The margin
    makes the task harder than plain ranking: the positive must beat negatives by `margin`.
    """
    a = F.normalize(src, dim=-1)
    b = F.normalize(trg, dim=-1)
    sims = a @ b.T
    if margin:
        sims = sims - margin * torch.eye(len(sims), device=sims.device, dtype=sims.dtype)
    logits = sims * scale
    target = torch.arange(len(sims), device=sims.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


class DistillRankingLoss(nn.Module):
    """weights.mse × MSE(student(x), teacher(en)) + weights.ranking × margin ranking(en ↔ x)
    + weights.preservation × MSE(student(x), base(x)).

    `ranking_target="student"` ranks student(x) against student(en), as LaBSE's dual encoder does;
    both sides move, and the in-batch negatives also spread the English sentences apart, which
    costs monolingual STS. `"teacher"` ranks student(x) against the fixed teacher(en) vectors
    instead: only the other languages are pulled into place and English keeps the teacher's
    geometry (held there by the MSE part).

    With a preservation weight the labels are [teacher(en) | base(x)] side by side: the second half
    is the untrained student's vector of the translation, which the student's vector of it is kept
    near, so a language keeps its own similarity structure while it moves towards English.
    """

    def __init__(
        self,
        model: Any,
        mse_weight: float = 1.0,
        ranking_weight: float = 1.0,
        scale: float = 20.0,
        margin: float = 0.3,
        ranking_target: str = "student",
        preservation_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if ranking_target not in ("student", "teacher"):
            raise ValueError(f"ranking_target must be student or teacher, not {ranking_target!r}")
        self.model = model
        self.mse_weight = mse_weight
        self.ranking_weight = ranking_weight
        self.scale = scale
        self.margin = margin
        self.ranking_target = ranking_target
        self.preservation_weight = preservation_weight

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        from sentence_transformers.base.losses.merged_forward import embed_columns

        return self.combine(embed_columns(self.model, sentence_features), labels)

    def combine(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """The loss from the (english, translation) embeddings and the teacher targets."""
        total = torch.zeros((), device=embeddings[0].device)
        if self.preservation_weight:
            if labels is None or labels.shape[-1] != 2 * embeddings[1].shape[-1]:
                raise ValueError("the preservation part needs [teacher(en) | base(x)] labels")
            labels, base = labels.chunk(2, dim=-1)
            total = total + self.preservation_weight * F.mse_loss(
                embeddings[1], base.detach().to(embeddings[1].dtype)
            )
        if self.mse_weight:
            if labels is None:
                raise ValueError("the MSE part needs teacher embeddings as labels")
            target = labels.detach().to(embeddings[0].dtype)
            mse = torch.stack([F.mse_loss(e, target) for e in embeddings]).mean()
            total = total + self.mse_weight * mse
        if self.ranking_weight:
            if self.ranking_target == "teacher":
                if labels is None:
                    raise ValueError("ranking against the teacher needs teacher embeddings as labels")
                english = labels.detach().to(embeddings[1].dtype)
            else:
                english = embeddings[0]
            total = total + self.ranking_weight * additive_margin_ranking(
                english, embeddings[1], self.scale, self.margin
            )
        return total

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "mse_weight": self.mse_weight,
            "ranking_weight": self.ranking_weight,
            "scale": self.scale,
            "margin": self.margin,
            "ranking_target": self.ranking_target,
            "preservation_weight": self.preservation_weight,
        }


def build_loss(cfg: TrainConfig, student: Any) -> nn.Module:
    if cfg.objective == "mse" and not cfg.preservation_weight:
        from sentence_transformers.sentence_transformer.losses import MSELoss

        return MSELoss(student)
    mse_weight = cfg.mse_weight if cfg.objective in ("mse", "mse+ranking") else 0.0
    ranking_weight = cfg.ranking_weight if cfg.objective != "mse" else 0.0
    return DistillRankingLoss(
        student,
        mse_weight=mse_weight,
        ranking_weight=ranking_weight,
        scale=cfg.ranking_scale,
        margin=cfg.ranking_margin,
        ranking_target=cfg.ranking_target,
        preservation_weight=cfg.preservation_weight,
    )
