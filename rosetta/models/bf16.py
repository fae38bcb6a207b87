"""A bf16 copy of a model for encoding on CPUs with AMX.

Autocast over fp32 weights (what training uses) casts every weight and most activations between
fp32 and bf16 on every batch; a model whose layers are bf16 throughout (weights, LayerNorms, the
residual stream) encodes ~15% faster on AMX (bench/ingest.py). Its vectors stay within cosine
0.9999 of fp32 ones on the ingest bench and pass the same quality gate (bench/quality_gate.py). The
input embedding table, most of a multilingual model's weights (XLM-R: 96M of 118M parameters), stays
shared with the fp32 model and is looked up in fp32, so the copy costs ~45 MB instead of ~235.
"""

from __future__ import annotations

import copy
from typing import Any

import torch


class _SharedEmbedding(torch.nn.Module):
    """The fp32 model's token embedding table, looked up there and cast to bf16. The table is a
    plain tensor attribute, not a parameter, so moving this module to bf16 leaves it alone."""

    def __init__(self, embedding: torch.nn.Embedding) -> None:
        super().__init__()
        self.table = embedding.weight.detach()
        self.padding_idx = embedding.padding_idx

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.embedding(input_ids, self.table, self.padding_idx).to(torch.bfloat16)


def bf16_copy(model: Any) -> Any:
    """`model` (a SentenceTransformer) copied with every layer in bf16; the original is untouched
    (ONNX exports and training read its fp32 weights)."""
    # deepcopy takes what `memo` maps an object to instead of copying it: the parameters come over
    # as bf16 directly (no fp32 copy on the way), the tokenizer is shared (the copy encodes where
    # the model did), the embedding table is looked up where it is.
    memo: dict[int, Any] = {}
    transformer = getattr(model[0], "auto_model", None)
    table = transformer.get_input_embeddings() if transformer is not None else None
    # Only a plain table: subclasses that scale or normalize in `forward` (Gemma's, Bart's) are copied.
    if type(table) is not torch.nn.Embedding or table.max_norm is not None:
        table = None
    if table is not None:
        memo[id(table)] = _SharedEmbedding(table)
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        memo[id(tokenizer)] = tokenizer
    for p in model.parameters():
        if p.is_floating_point() and not (table is not None and p is table.weight):
            memo[id(p)] = torch.nn.Parameter(p.detach().to(torch.bfloat16), requires_grad=False)
    return copy.deepcopy(model, memo).to(torch.bfloat16).eval()
