"""The encoder every part of Rosetta uses: prompts built in, provenance attached."""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rosetta.models.backends import FP32_BACKENDS, Backend, backends_compatible, choose_backend
from rosetta.models.precision import autocast, resolve_precision
from rosetta.models.quiet import quiet_transformers
from rosetta.models.registry import ModelNotFoundError, canonical_name, resolve

if TYPE_CHECKING:
    from rosetta.settings import Precision, Settings

log = logging.getLogger(__name__)
IDENTITY_FILE = "rosetta_identity.json"


@dataclass(frozen=True)
class ModelIdentity:
    """What a collection records about the model that filled it."""

    name: str
    source: str  # offline | folder | hub
    weights_sha256: str
    dim: int
    prompts: dict[str, str] = field(default_factory=dict)
    normalized: bool = True
    max_seq_length: int = 512
    # How the vectors were computed: torch, onnx or onnx-int8, and the weight quantization.
    backend: str = "torch"
    quantization: str = "none"
    # Set on a collection's identity when its vectors had the model's language vectors removed
    # (rosetta.models.language_vectors); "" = plain vectors. Never mixed within a collection.
    language_shift: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelIdentity:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def same_vectors_as(self, other: ModelIdentity) -> bool:
        """May a collection of `self`'s vectors take `other`'s (queries, more passages)? Only for
        identical weights, dims, prompts and language shift, from the same backend or one measured
        compatible."""
        return (
            self.weights_sha256 == other.weights_sha256
            and self.dim == other.dim
            and self.prompts == other.prompts
            and self.language_shift == other.language_shift
            and backends_compatible(self.weights_sha256, self.backend, other.backend)
        )

    def describe(self) -> str:
        shift = f", {self.language_shift}" if self.language_shift else ""
        return f"{self.name} ({self.dim}d, weights {self.weights_sha256[:12]}, {self.backend}{shift})"


def weights_hash(folder: Path) -> str:
    """sha256 over the model's weight files, cached beside them (keyed on size+mtime)."""
    files = sorted(
        p for p in folder.rglob("*") if p.suffix in {".safetensors", ".bin", ".pt"} and p.is_file()
    )
    stamp = [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    cache = folder / IDENTITY_FILE
    if cache.exists():
        try:
            cached = json.loads(cache.read_text())
            if cached.get("stamp") == stamp:
                return cached["sha256"]
        except (OSError, ValueError, KeyError):
            pass
    digest = hashlib.sha256()
    for p in files:
        digest.update(str(p.relative_to(folder)).encode())
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    sha = digest.hexdigest()
    # A read-only folder (a model shipped in site-packages) just recomputes next time.
    with contextlib.suppress(OSError):
        cache.write_text(json.dumps({"stamp": stamp, "sha256": sha}))
    return sha


class Encoder:
    """A sentence-transformers model plus its prompts and identity.

    Callers use `encode_queries` / `encode_documents` and never write prompt prefixes.
    """

    def __init__(
        self,
        model: Any,
        identity: ModelIdentity,
        precision: str = "fp32",
        runner: Any = None,
        backend_reason: str = "",
        requested: str = "torch",
        models_dir: Path | None = None,
        query_onnx: Path | None = None,
    ) -> None:
        self.model = model
        self.identity = identity
        # Not part of the identity: bf16 and fp32 vectors of one model agree to cosine ≥ 0.9999 (ingest
        # bench) and retrieve alike (quality gate).
        self.precision = resolve_precision(precision, str(model.device)) if runner is None else "fp32"
        self.runner = runner  # an OnnxRunner, or None to encode with torch
        self.backend_reason = backend_reason
        self.requested = requested  # the backend asked for (auto or a name)
        self.models_dir = models_dir
        # Where the fp32 ONNX build for queries lives (built on the first query), or None: queries
        # are computed like documents. See BackendChoice.query_backend.
        self.query_onnx = query_onnx
        self._query_runner: Any = None
        self._query_lock = threading.Lock()
        # On CPU, bf16 runs on a bf16 copy of the model (see rosetta.models.bf16); on GPUs autocast.
        self._bf16_model: Any = None
        if runner is None and self.precision == "bf16" and str(model.device) == "cpu":
            from rosetta.models.bf16 import bf16_copy

            self._bf16_model = bf16_copy(model)

    def for_collection(self, stored: ModelIdentity) -> Encoder:
        """This model as the backend that wrote a collection computes it, when `auto` chose another.

        Collections built before a faster backend became the default (torch fp32) would otherwise
        refuse the new default's int8 queries and passages; under `auto` the collection's own
        backend is used for its passages instead (an int8 collection made by an earlier `auto` gets
        int8 passages, not bf16 ones), and queries stay on the fp32 engine where that is measured
        compatible. A backend set explicitly is kept (and refused if it does not fit, naming both).
        """
        if (
            self.requested != "auto"
            or stored.weights_sha256 != self.identity.weights_sha256
            or stored.backend == self.identity.backend
            or {stored.backend, self.identity.backend} <= FP32_BACKENDS
        ):
            return self
        base = replace(self.identity, backend="torch", quantization="none")
        log.info("collection written by %s: encoding its passages with it", stored.backend)
        encoder = Encoder._with_backend(
            self.model,
            base,
            "fp32",
            stored.backend,
            str(self.model.device),
            self.models_dir or Path("."),
            requested="auto",
        )
        if backends_compatible(stored.weights_sha256, stored.backend, "onnx"):
            # fp32 queries, where measured compatible: the same engine (same weights, same file)
            encoder.query_onnx = self.query_onnx
            encoder._query_runner = self._query_runner
        return encoder

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        model: str | None = None,
        precision: Precision | str | None = None,
        backend: Backend | None = None,
    ) -> Encoder:
        """Load the model the settings name, on their device, precision and backend.

        Args:
            settings: the application settings (model, cache dir, device, precision, backend).
            model: a model name or folder to load instead of `settings.model`.
            precision: overrides `settings.precision` (`fp32`, `bf16`, `fp16`, `auto`).
            backend: overrides `settings.encoder_backend`.

        Returns:
            The loaded encoder; its `identity` names the model, weights and backend.

        Raises:
            ModelNotFoundError: the model cannot be found or built offline, or the backend cannot run it.
        """
        from rosetta.settings import resolve_device

        return cls.load(
            model or settings.model,
            settings.models_dir,
            resolve_device(settings.device),
            precision or settings.precision,
            backend or settings.encoder_backend,
        )

    @classmethod
    def load(
        cls,
        reference: str,
        models_dir: Path,
        device: str = "cpu",
        precision: str = "fp32",
        backend: Backend = "torch",
    ) -> Encoder:
        """Load a model; `backend` auto picks the fastest engine that passes the quality gate here."""
        quiet_transformers()
        from sentence_transformers import SentenceTransformer

        source, location = resolve(reference, models_dir)
        try:
            model = SentenceTransformer(str(location), device=device)
        except OSError as exc:
            raise ModelNotFoundError(
                f"could not load model '{reference}': {exc}. With no internet, use an offline "
                "model (rosetta models list) or the path of a sentence-transformers folder."
            ) from exc
        # A hub model's files live in the HF cache; its id (and revision) is its identity there.
        sha = weights_hash(Path(location)) if source != "hub" else f"hub:{reference}"
        name = canonical_name(reference) if source != "folder" else Path(location).name
        identity = ModelIdentity(
            name=name,
            source=source,
            weights_sha256=sha,
            dim=_dimension(model),
            # sentence-transformers adds empty query/document prompts to every model; only real
            # prefixes change vectors.
            prompts={k: v for k, v in model.prompts.items() if v},
            normalized=_ends_with_normalize(model),
            max_seq_length=int(model.max_seq_length or 512),
        )
        return cls._with_backend(model, identity, precision, backend, device, models_dir)

    @classmethod
    def _with_backend(
        cls,
        model: Any,
        identity: ModelIdentity,
        precision: str,
        backend: str,
        device: str,
        models_dir: Path,
        requested: str | None = None,
    ) -> Encoder:
        from rosetta.models import onnx_backend

        needs_check = backend != "torch"
        unsupported = onnx_backend.supported(model) if needs_check else None
        try:
            choice = choose_backend(backend, device, precision, identity.weights_sha256, unsupported)
        except ValueError as exc:
            raise ModelNotFoundError(str(exc)) from None
        requested = requested or backend
        folder = onnx_backend.build_dir(models_dir, identity.name, identity.weights_sha256)
        query_onnx = folder if choice.query_backend == "onnx" else None
        if choice.backend == "torch":
            return cls(
                model,
                identity,
                precision,
                backend_reason=choice.reason,
                requested=requested,
                models_dir=models_dir,
                query_onnx=query_onnx,
            )
        log.info("encoder backend %s (%s)", choice.backend, choice.reason)
        path = onnx_backend.ensure_built(model, folder, choice.backend)
        runner = onnx_backend.OnnxRunner(path, model.tokenizer, identity.max_seq_length)
        identity = replace(
            identity, backend=choice.backend, quantization=onnx_backend.QUANTIZATION[choice.backend]
        )
        return cls(
            model,
            identity,
            "fp32",
            runner=runner,
            backend_reason=choice.reason,
            requested=requested,
            models_dir=models_dir,
            query_onnx=query_onnx,
        )

    @property
    def dim(self) -> int:
        return self.identity.dim

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    @functools.cached_property
    def worker_tokenizer(self) -> Any:
        """A second tokenizer for another thread (a pipeline's reader) to use while this one encodes.

        A fast tokenizer keeps its padding/truncation settings on the instance, so a thread counting
        tokens while a batch is padded made that batch fail at random ("expected sequence of length
        161 ... got 165"). Made once per encoder: cloning the XLM-R vocabulary takes a second or two.
        """
        return _clone_tokenizer(self.tokenizer)

    def prepare_queries(self) -> None:
        """Build (first use: export, about a minute once per user and weights) and load the query
        engine now rather than on the first query."""
        if self.query_onnx is not None:
            self._query_engine()

    def _query_engine(self) -> Any:
        """The fp32 ONNX runner for queries, exported on first use (once per user and weights); if it
        cannot be built, queries fall back to the document engine (logged)."""
        from rosetta.models import onnx_backend

        with self._query_lock:
            if self._query_runner is None and self.query_onnx is not None:
                try:
                    path = onnx_backend.ensure_built(self.model, self.query_onnx, "onnx")
                except Exception as exc:  # queries still work, only slower
                    log.warning("queries stay on %s: the ONNX build failed: %s", self.identity.backend, exc)
                    self.query_onnx = None
                    return self.runner
                # Its own tokenizer: a search may run while another thread encodes passages.
                tokenizer = _clone_tokenizer(self.tokenizer)
                self._query_runner = onnx_backend.OnnxRunner(path, tokenizer, self.max_seq_length)
            return self._query_runner

    @property
    def max_seq_length(self) -> int:
        return self.identity.max_seq_length

    @property
    def cpu_bf16(self) -> bool:
        """Does torch encode in bf16 on the CPU (on the bf16 copy of the model)?"""
        return self._bf16_model is not None

    @property
    def batch_invariant(self) -> bool:
        """Does a text get the same vector whatever else shares its batch? Not with dynamic int8,
        which scales activations per batch (nDCG@10 of int8 queries on int8 passages: -0.47 with
        batches of 32, -1.53 with batches of 64, against torch fp32)."""
        return self.identity.quantization != "dynamic-int8"

    def query_prefix(self) -> str:
        return self.identity.prompts.get("query", "")

    def document_prefix(self) -> str:
        for name in ("document", "passage", "corpus"):
            if name in self.identity.prompts:
                return self.identity.prompts[name]
        return ""

    def _encode(
        self, texts: Sequence[str], kind: Literal["query", "document"], batch_size: int, progress: bool
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.query_prefix() if kind == "query" else self.document_prefix()
        runner = self._query_engine() if kind == "query" and self.query_onnx is not None else self.runner
        if runner is not None:
            return runner.encode([prefix + t for t in texts], batch_size)
        # sentence-transformers' query/document entry points route the text by task (models with a
        # Router module); the prompt is passed as the identity records it, so that the ONNX runner,
        # token counts and the collection's identity all use the same prefix.
        model = self._bf16_model if self.cpu_bf16 else self.model
        encode = model.encode_query if kind == "query" else model.encode_document
        with autocast(self.precision, str(model.device)):
            vectors = encode(
                list(texts),
                prompt=prefix,
                batch_size=batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.cpu_bf16:  # normalized in bf16: unit length again, in fp32
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def encode_queries(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """Embed search queries (and both sides of symmetric tasks) with the model's query prompt.

        Args:
            texts: The texts, without any prefix.
            batch_size: Texts per forward pass.
            progress: Show a progress bar.

        Returns:
            A float32 array (len(texts), dim) of unit-length rows.
        """
        return self._encode(texts, "query", batch_size, progress)

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """Embed passages to index with the model's document prompt (arguments and result as in
        `encode_queries`)."""
        return self._encode(texts, "document", batch_size, progress)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text` as a document (prefix and special tokens included)."""
        ids = self.tokenizer(self.document_prefix() + text, add_special_tokens=True, truncation=False)[
            "input_ids"
        ]
        return len(ids)


def _clone_tokenizer(tokenizer: Any) -> Any:
    if not getattr(tokenizer, "is_fast", False):
        return copy.deepcopy(tokenizer)
    from tokenizers import Tokenizer

    clone = copy.copy(tokenizer)
    clone._tokenizer = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    return clone


def _ends_with_normalize(model: Any) -> bool:
    last = list(model.children())[-1]
    return type(last).__name__ == "Normalize"


def _dimension(model: Any) -> int:
    dim = model.get_embedding_dimension()
    if dim is None:
        raise ModelNotFoundError(f"{model}: the model does not state its embedding dimension")
    return int(dim)
