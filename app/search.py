"""The search core: one Python API the CLI and the web UI share.

Query → language detection (shown to the user) → `encode_queries` → Qdrant query (dense, or
dense + keyword fused with RRF) → passages grouped by document → a `SearchResult`.

Design notes
------------
* **Source prefix filter.** Qdrant's keyword match is exact, so a folder filter needs a prefix
  match. qdrant-client ≥ 1.16 / Qdrant server ≥ 1.16 have `MatchPrefix` (byte-wise,
  case-sensitive, like keyword match); embedded mode evaluates it by scanning, a server serves it
  from a keyword index created with `prefix=True` (without that option the server still answers
  it, only slower). We use it rather than storing path-prefix tokens in every payload.
* **Grouping by document** is done here, not with Qdrant's `query_points_groups`, because it has
  to compose with RRF fusion and with offset pagination over *documents*: we fetch a candidate
  pool of passages several times larger than the page, group in rank order, and grow the pool
  when there are too few distinct documents. "n more passages" counts the further passages of
  the same document found in that pool (not every passage of the document).
* **Language-neutral collections** (indexed with the model's language vectors removed, recorded
  in the collection identity) get queries shifted the same way, by the query's detected language
  or the mix of its candidate languages; plain collections get plain queries. The ranking modes
  `prefer-language` and `per-language` re-arrange a candidate pool after the store's ranking.
* **Scores.** Dense search ranks by cosine similarity. Hybrid ranks by RRF (rank-based, no
  absolute scale), so every hybrid hit also carries its cosine similarity, computed here from its
  vector; the minimum score is a cosine floor in both modes, and in hybrid it never removes a
  passage that holds every query keyword (or the keyword leg's best match): an exact name must
  not vanish because its embedding is only moderately close.
* **Calibration.** A cosine of 0.80 means little on its own (mE5 puts unrelated text at
  0.7–0.8). Each query is also scored against a fixed random sample of the collection's
  passages (drawn once per collection and size): a hit's *z-score* says how many (robust)
  standard deviations it stands above that query's typical passage (median and MAD). Weak
  matches are flagged, and a default cut-off (`DEFAULT_MIN_Z`) ends the result list instead
  of paging through noise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from qdrant_client import models

from rosetta import langid
from rosetta.langid import QueryLanguage
from rosetta.models import Encoder
from rosetta.models.language_vectors import LanguageVectors
from rosetta.schema import PAYLOAD_KEYS
from rosetta.store import (
    CollectionNotFoundError,
    Hit,
    ModelMismatchError,
    SparseVector,
    VectorStore,
    match_any,
)

log = logging.getLogger(__name__)

MAX_POOL = 2000  # most passages fetched to fill one page of grouped results
POST_FILTER_FACTOR = 8  # embedded fast path: rank this × the pool unfiltered, filter in Python
MAX_POST_FILTER = 4000
QUERY_THREADS = 1  # see _query_threads
POOL_FACTOR = 4  # initial pool = POOL_FACTOR × documents needed
# How the query's language weighs in the ranking (see Searcher._arranged):
#   neutral          the best matches in any language (language vectors removed, when the
#                    collection was indexed with them)
#   prefer-language  the same, with passages in the query's language lifted by PREFER_BONUS
#   per-language     the best match in each language, one per language (coverage)
Ranking = Literal["neutral", "prefer-language", "per-language"]
RANKINGS: tuple[Ranking, ...] = ("neutral", "prefer-language", "per-language")
RANKING_LABELS = {
    "neutral": "Language-neutral",
    "prefer-language": "Prefer query language",
    "per-language": "One per language",
}
# prefer-language lifts passages in the query's language by this share of the gap between the
# candidates' top quarter (mean) and their median: scale-free, since plain cosines crowd near 0.8
# and language-neutral ones spread wider, and not driven by one outstanding hit. On the demo
# corpus (月の満ち欠け) it keeps the moon articles of five languages first and lifts Japanese
# articles into the top ten; the best hit overall stays first.
PREFER_BONUS = 0.5
BASELINE_SAMPLE = 512  # random passages each query is compared with (calibration)
MIN_BASELINE = 100  # fewer passages than this: too few to say what "typical" is; no calibration
# Measured on Tatoeba (bench/relevance.py): a cut at z 3 keeps 96% of true answers while the
# best hit of 46% of nonsense queries falls below it; no nonsense best hit reaches z 4 (max 3.99).
DEFAULT_MIN_Z = 3.0  # default cut-off: hits below this z-score are left out
WEAK_Z = 4.0  # hits below this are shown, flagged as weak matches


class SearchError(Exception):
    """A bad search request (empty query, unknown ranking), with a message meant for users."""


@dataclass
class SearchRequest:
    """Everything a search can ask for. Empty filters mean "no restriction"."""

    query: str
    limit: int = 10
    offset: int = 0  # in results (documents when grouped, passages otherwise)
    langs: Sequence[str] = ()  # keep only these passage languages
    exclude_langs: Sequence[str] = ()
    source_prefix: str | None = None
    doc_ids: Sequence[str] = ()
    # payload key → value or list of values (any of them); dotted keys reach nested fields.
    metadata: Mapping[str, Any] = field(default_factory=dict)
    ingested_from: date | datetime | None = None
    ingested_to: date | datetime | None = None  # a date is inclusive (the whole day)
    min_score: float | None = None  # cosine similarity floor
    min_z: float | None = None  # calibrated cut-off (z-score against random passages)
    hybrid: bool = False
    group_by_doc: bool = True
    ranking: Ranking = "neutral"
    query_lang: str | None = None  # the user's override of the detected language


@dataclass
class Passage:
    """One chunk as search shows it."""

    id: str
    score: float
    text: str
    lang: str
    doc_id: str
    source: str
    title: str
    chunk_index: int
    char_start: int | None = None
    char_end: int | None = None
    page: int | None = None
    doc_lang: str | None = None
    ingested_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    similarity: float | None = None  # cosine to the query (= score in dense search)
    z: float | None = None  # standard deviations above the query's typical passage

    @property
    def weak(self) -> bool:
        return self.z is not None and self.z < WEAK_Z

    @classmethod
    def from_hit(cls, hit: Hit) -> Passage:
        p = hit.payload
        meta = {k: v for k, v in p.items() if k not in PAYLOAD_KEYS}
        # The indexer may nest metadata columns under one key; show them flat either way.
        nested = meta.pop("metadata", None)
        if isinstance(nested, Mapping):
            meta.update(nested)
        return cls(
            id=hit.id,
            score=float(hit.score),
            text=str(p.get("text", "")),
            lang=str(p.get("lang", langid.UNDETERMINED)),
            doc_id=str(p.get("doc_id", hit.id)),
            source=str(p.get("source", "")),
            title=str(p.get("title") or p.get("source") or ""),
            chunk_index=int(p.get("chunk_index", 0) or 0),
            char_start=p.get("char_start"),
            char_end=p.get("char_end"),
            page=p.get("page"),
            doc_lang=p.get("doc_lang"),
            ingested_at=p.get("ingested_at"),
            metadata=meta,
        )


@dataclass
class SearchHit:
    """A ranked result: the best passage of a document, plus the document's other matches."""

    rank: int
    passage: Passage
    more: list[Passage] = field(default_factory=list)  # same document, lower ranked

    @property
    def score(self) -> float:
        return self.passage.score

    @property
    def more_count(self) -> int:
        return len(self.more)


@dataclass
class SearchResult:
    query: str
    query_lang: str  # ISO 639-1, or `und` when not confidently known
    hits: list[SearchHit]
    offset: int = 0
    has_more: bool = False
    hybrid: bool = False
    grouped: bool = True
    encode_ms: float = 0.0
    search_ms: float = 0.0
    ranking: Ranking = "neutral"
    # Whether the collection's vectors (and so this query's) had the language vectors removed.
    language_neutral: bool = False
    language: QueryLanguage | None = None  # detection details (None when overridden)
    total: int | None = None  # results in all (documents when grouped), when known
    total_capped: bool = False  # `total` is a lower bound: the candidate cap was reached
    floor: float | None = None  # the cosine floor that applied (user's, or the calibrated cut-off)
    vector: np.ndarray | None = field(default=None, repr=False)  # the query's embedding

    def to_json(self) -> dict[str, Any]:
        """The CLI's `--json` shape (stable: scripts depend on it)."""
        return {
            "query": self.query,
            "query_lang": self.query_lang,
            "ranking": self.ranking,
            "language_neutral": self.language_neutral,
            "hits": [
                {
                    "score": round(h.score, 6),
                    "text": h.passage.text,
                    "lang": h.passage.lang,
                    "doc_id": h.passage.doc_id,
                    "source": h.passage.source,
                    "title": h.passage.title,
                    "chunk_index": h.passage.chunk_index,
                }
                for h in self.hits
            ],
        }


# ---- filters ------------------------------------------------------------------------------
def _as_utc_bound(value: date | datetime, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value
    # A date as upper bound means "through that day": the next midnight, exclusive.
    day = datetime.combine(value, datetime.min.time())
    return day + timedelta(days=1) if end else day


def build_filter(
    req: SearchRequest, *, extra_must_not: Sequence[models.Condition] = ()
) -> models.Filter | None:
    """The Qdrant filter for a request's restrictions (None when there are none)."""
    must: list[models.Condition] = []
    must_not: list[models.Condition] = list(extra_must_not)
    if req.langs:
        must.append(match_any("lang", list(req.langs)))
    if req.exclude_langs:
        must_not.append(match_any("lang", list(req.exclude_langs)))
    if req.source_prefix:
        must.append(models.FieldCondition(key="source", match=models.MatchPrefix(prefix=req.source_prefix)))
    if req.doc_ids:
        must.append(match_any("doc_id", list(req.doc_ids)))
    for key, value in req.metadata.items():
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        if values:
            must.append(match_any(key, values))
    if req.ingested_from or req.ingested_to:
        low, high = req.ingested_from, req.ingested_to
        must.append(
            models.FieldCondition(
                key="ingested_at",
                range=models.DatetimeRange(
                    gte=_as_utc_bound(low, end=False) if low is not None else None,
                    # A datetime upper bound is inclusive as given; a date one covers its whole day.
                    lte=high if isinstance(high, datetime) else None,
                    lt=_as_utc_bound(high, end=True)
                    if high is not None and not isinstance(high, datetime)
                    else None,
                ),
            )
        )
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


def group_by_document(passages: Sequence[Passage]) -> list[SearchHit]:
    """One hit per document, in rank order of each document's best passage."""
    groups: dict[str, SearchHit] = {}
    for p in passages:
        if p.doc_id in groups:
            groups[p.doc_id].more.append(p)
        else:
            groups[p.doc_id] = SearchHit(rank=len(groups) + 1, passage=p)
    return list(groups.values())


def to_hits(passages: Sequence[Passage], group: bool) -> list[SearchHit]:
    """Passages in rank order → hits: one per document when `group`, else one per passage."""
    if group:
        return group_by_document(passages)
    return [SearchHit(rank=i + 1, passage=p) for i, p in enumerate(passages)]


def arrange(
    passages: Sequence[Passage], ranking: Ranking, query_lang: str, group: bool = True
) -> list[SearchHit]:
    """Passages in rank order → hits for `ranking` (see RANKINGS), one per document if `group`."""
    ordered = list(passages)
    if ranking == "prefer-language" and ordered and query_lang != langid.UNDETERMINED:
        scores = np.array([p.score for p in ordered])
        top = np.sort(scores)[::-1][: max(1, len(scores) // 4)].mean()
        bonus = PREFER_BONUS * float(top - np.median(scores))
        ordered.sort(key=lambda p: -(p.score + (bonus if p.lang == query_lang else 0.0)))
    hits = to_hits(ordered, group)
    if ranking == "per-language":
        seen: set[str] = set()
        firsts = []
        for h in hits:
            if h.passage.lang not in seen:
                seen.add(h.passage.lang)
                firsts.append(h)
        hits = firsts
        for i, h in enumerate(hits):
            h.rank = i + 1
    return hits


def detect_query_lang(query: str) -> QueryLanguage:
    """The query's language, confident or None (see `rosetta.langid.detect_query`)."""
    return langid.detect_query(query)


def sparse_query_vector(encoder: Encoder, text: str) -> SparseVector:
    """The keyword (sparse) vector of a query: the indexer's BM25-style terms over the model's
    tokenizer, built exactly as the documents' were (imported lazily: only hybrid needs it)."""
    from indexer.sparse import sparse_vector

    return sparse_vector(encoder.tokenizer, text, query=True)


def first_pool(need: int) -> int:
    """How many passages to fetch first for `need` results (documents, or arranged passages)."""
    return min(max(need * POOL_FACTOR, 40), MAX_POOL)


def grow_pool(
    need: int, fetch: Callable[[int], list[Hit]], results: Callable[[list[Hit]], list[SearchHit]]
) -> tuple[list[SearchHit], bool]:
    """Fetch a pool of candidate passages and turn it into `results`; grow the pool (× POOL_FACTOR)
    until there are `need` results, the collection (under the filter) is exhausted, or MAX_POOL is hit.

    Returns the results and whether the pool held every candidate there is.
    """
    pool = first_pool(need)
    while True:
        raw = fetch(pool)
        found = results(raw)
        exhausted = len(raw) < pool
        if len(found) >= need or exhausted or pool >= MAX_POOL:
            return found, exhausted
        pool = min(pool * POOL_FACTOR, MAX_POOL)


_threads_lock = threading.Lock()


@contextlib.contextmanager
def _query_threads() -> Iterator[None]:
    """Encode a query on one CPU thread.

    A query is a few dozen tokens: intra-op parallelism has nothing to split, and on a busy
    machine OpenMP threads waiting for each other cost far more than they save (measured on a
    shared 2-core box: ~950 ms with 2 threads vs ~15 ms with 1; see bench/query.py). The lock
    keeps concurrent sessions from restoring each other's setting wrongly.
    """
    import torch

    with _threads_lock:
        before = torch.get_num_threads()
        if before > QUERY_THREADS:
            torch.set_num_threads(QUERY_THREADS)
        try:
            yield
        finally:
            if before > QUERY_THREADS:
                torch.set_num_threads(before)


# ---- the searcher -------------------------------------------------------------------------
class Searcher:
    """Search one collection with one encoder. Cheap to create; hold one per (store, model)."""

    def __init__(self, encoder: Encoder, store: VectorStore, collection: str) -> None:
        self.encoder = encoder
        self.store = store
        self.collection = collection
        self._checked = False
        # The collection's language vectors (None: plain vectors); queries get the same treatment.
        self.language_vectors: LanguageVectors | None = None

    def check(self) -> None:
        """Fail with a readable message if the collection is missing or holds another model's vectors."""
        if self._checked:
            return
        stored = self.store.identity(self.collection)  # raises CollectionNotFoundError
        if stored is not None:
            self.encoder = self.encoder.for_collection(stored)
            model = dataclasses.replace(self.encoder.identity, language_shift=stored.language_shift)
            if not stored.same_vectors_as(model):
                raise ModelMismatchError(
                    f"collection '{self.collection}' holds vectors of {stored.describe()}, but the "
                    f"loaded model is {self.encoder.identity.describe()}; search it with that model "
                    "(ROSETTA_MODEL) or re-index"
                )
            from indexer.pipeline import collection_language_vectors

            self.language_vectors = collection_language_vectors(stored, self.encoder)
        self._checked = True

    def query_vector(self, query: str, lang: langid.QueryLanguage | None = None) -> np.ndarray:
        """The query's vector as the collection's vectors were made: shifted by the query's
        language (the probability mix when the language is unsure) if they were."""
        vector = self.encode(query)
        if self.language_vectors is None:
            return vector
        lang = lang or langid.detect_query(query)
        return self.language_vectors.shift_query(vector, lang.lang, lang.probs)

    def count(self) -> int:
        """Passages in the collection (0 when it does not exist)."""
        try:
            return self.store.count(self.collection)
        except CollectionNotFoundError:
            return 0

    def encode(self, query: str) -> np.ndarray:
        with _query_threads():
            return self.encoder.encode_queries([query])[0]

    def search(self, req: SearchRequest) -> SearchResult:
        """Rank the collection's passages for a query in any language.

        Args:
            req: the query, its filters (languages, source prefix, metadata, dates), the page
                (`limit`, `offset`), the floors (`min_score` cosine, `min_z` calibrated cut-off),
                `hybrid`, `group_by_doc` and the `ranking` mode.

        Returns:
            A `SearchResult`: the page of hits (each with its passage, score, similarity and z),
            whether more follow, the total when known, the query's language and timings.

        Raises:
            SearchError: an empty query or an unknown ranking mode.
            CollectionNotFoundError, ModelMismatchError: the collection is missing or holds vectors
                of another model (or backend, or language shift) than the loaded encoder's.
        """
        query = req.query.strip()
        if not query:
            raise SearchError("type a query")
        if req.ranking not in RANKINGS:
            raise SearchError(f"unknown ranking '{req.ranking}'; choose one of {', '.join(RANKINGS)}")
        self.check()
        language = None if req.query_lang else detect_query_lang(query)
        query_lang = req.query_lang or (language.lang if language and language.lang else langid.UNDETERMINED)
        t0 = time.perf_counter()
        # A language the user chose is taken as certain for the language shift too.
        shift_lang = language or langid.QueryLanguage(query_lang, True, {query_lang: 1.0})
        vector = self.query_vector(query, shift_lang)
        sparse = sparse_query_vector(self.encoder, query) if req.hybrid else None
        t1 = time.perf_counter()
        where = build_filter(req)
        baseline = self.baseline(vector)
        floor = _floor(req, baseline)
        if req.ranking != "neutral":
            hits, has_more = self._arranged(vector, sparse, where, req, query_lang, floor)
            total, capped = None, False
        elif sparse is not None:
            hits, has_more, total, capped = self._hybrid(vector, sparse, where, req, floor)
        else:
            hits, has_more, total, capped = self._ranked(vector, where, req, floor)
        for hit in hits:
            for p in (hit.passage, *hit.more):
                if sparse is None:
                    p.similarity = p.score  # dense: the score is the cosine
                _calibrate(p, baseline)
        t2 = time.perf_counter()
        return SearchResult(
            query=query,
            query_lang=query_lang,
            hits=hits,
            offset=req.offset,
            has_more=has_more,
            hybrid=req.hybrid,
            grouped=req.group_by_doc,
            encode_ms=(t1 - t0) * 1000,
            search_ms=(t2 - t1) * 1000,
            language=language,
            total=total,
            total_capped=capped,
            floor=floor,
            vector=vector,
            ranking=req.ranking,
            language_neutral=self.language_vectors is not None,
        )

    def search_all(self, req: SearchRequest, cap: int = MAX_POOL) -> SearchResult:
        """Every result of a request (up to `cap`), from the first: what an export holds."""
        return self.search(replace(req, offset=0, limit=cap))

    def search_vector(self, vector: np.ndarray, req: SearchRequest) -> list[SearchHit]:
        """Search with a ready query vector (benchmarks, tests)."""
        hits, *_ = self._ranked(vector, build_filter(req), req, req.min_score)
        return hits

    # ---- calibration ----
    def baseline(self, vector: np.ndarray) -> tuple[float, float] | None:
        """Centre and spread of the query's cosine to random passages of the collection."""
        sample = _baseline_sample(self.store, self.collection)
        if sample is None or len(sample) < MIN_BASELINE:
            return None
        return robust_location_scale(sample @ np.asarray(vector, dtype=np.float32))

    # ---- ranking ----
    def _ranked(
        self, vector: np.ndarray, where: models.Filter | None, req: SearchRequest, floor: float | None
    ) -> tuple[list[SearchHit], bool, int | None, bool]:
        """Dense ranking: (page of hits, has_more, total results when known, total capped)."""
        limit, offset = max(1, req.limit), max(0, req.offset)
        if floor is not None:
            # A floor makes the result list finite: fetch it whole (up to the cap) and count it.
            passages, exhausted = self._above_floor(vector, where, floor)
            results = to_hits(passages, req.group_by_doc)
            return (
                results[offset : offset + limit],
                len(results) > offset + limit,
                len(results),
                not exhausted,
            )
        if not req.group_by_doc:
            # One extra passage tells the UI whether a next page exists.
            raw = self.store.query(self.collection, vector, where=where, limit=limit + 1, offset=offset)
            passages = [Passage.from_hit(h) for h in raw]
            hits = [SearchHit(rank=offset + i + 1, passage=p) for i, p in enumerate(passages[:limit])]
            return hits, len(passages) > limit, None, False
        need = offset + limit + 1
        pool = first_pool(need)
        if where is not None and self.store.kind == "embedded":
            fast = self._post_filtered(vector, where, pool, need)
            if fast is not None:
                groups, exhausted = fast
                return (
                    groups[offset : offset + limit],
                    len(groups) > offset + limit,
                    len(groups) if exhausted else None,
                    False,
                )
        groups, exhausted = grow_pool(
            need,
            lambda size: self.store.query(self.collection, vector, where=where, limit=size),
            lambda raw: group_by_document([Passage.from_hit(h) for h in raw]),
        )
        total = len(groups) if exhausted else None
        return groups[offset : offset + limit], len(groups) > offset + limit, total, False

    def _arranged(
        self,
        vector: np.ndarray,
        sparse: SparseVector | None,
        where: models.Filter | None,
        req: SearchRequest,
        query_lang: str,
        floor: float | None = None,
    ) -> tuple[list[SearchHit], bool]:
        """`prefer-language` and `per-language`: re-arrange a candidate pool of passages.

        The pool grows (like grouping's) until the page is full or the collection is exhausted;
        a language's best passage is always in the pool when the pool covers that language.
        """
        limit, offset = max(1, req.limit), max(0, req.offset)
        # A cosine floor applies to dense scores only (RRF scores have no absolute scale).
        threshold = floor if sparse is None else None
        hits, _ = grow_pool(
            offset + limit + 1,
            lambda size: self.store.query(
                self.collection, vector, where=where, limit=size, score_threshold=threshold, sparse=sparse
            ),
            lambda raw: arrange(
                [Passage.from_hit(h) for h in raw], req.ranking, query_lang, req.group_by_doc
            ),
        )
        page = hits[offset : offset + limit]
        for i, h in enumerate(page):
            h.rank = offset + i + 1
        return page, len(hits) > offset + limit

    def _above_floor(
        self, vector: np.ndarray, where: models.Filter | None, floor: float
    ) -> tuple[list[Passage], bool]:
        """Every passage (up to MAX_POOL) at or above the cosine floor; True when that is all of them."""
        if where is not None and self.store.kind == "embedded":
            kept = self._post_filter_raw(vector, where, floor, MAX_POOL)
            if kept is not None:
                return [Passage.from_hit(h) for h in kept[:MAX_POOL]], len(kept) < MAX_POOL
        raw = self.store.query(self.collection, vector, where=where, limit=MAX_POOL, score_threshold=floor)
        return [Passage.from_hit(h) for h in raw], len(raw) < MAX_POOL

    def _post_filter_raw(
        self, vector: np.ndarray, where: models.Filter, floor: float | None, need: int
    ) -> list[Hit] | None:
        """Embedded-store fast path: rank unfiltered, then filter the top passages in Python.

        Local-mode Qdrant evaluates a filter in Python on *every* payload (≈25 µs each: 2.5 s at
        100k chunks), while an unfiltered query is one matrix product. For a dense query the
        filtered top-k is exactly the passages that pass the filter among the unfiltered top M,
        whenever at least `need` survive (or the ranking was exhausted); otherwise (a selective
        filter) return None and let Qdrant filter. The check is qdrant-client's own local-mode
        `check_filter`, so the semantics are the store's. Hybrid is excluded: RRF ranks depend on
        the filtered prefetch.
        """
        try:
            from qdrant_client.local.payload_filters import check_filter
        except ImportError:  # pragma: no cover - internal module moved: use the exact path
            return None
        depth = MAX_POST_FILTER
        raw = self.store.query(self.collection, vector, limit=depth, score_threshold=floor)
        kept = [h for h in raw if check_filter(where, h.payload, h.id, {"dense": True})]
        if len(kept) >= need or len(raw) < depth:
            return kept
        return None

    def _post_filtered(
        self, vector: np.ndarray, where: models.Filter, pool: int, need: int
    ) -> tuple[list[SearchHit], bool] | None:
        """The fast path for grouped pages without a floor (see `_post_filter_raw`): the groups,
        and whether the whole collection was ranked (then they are all there is)."""
        try:
            from qdrant_client.local.payload_filters import check_filter
        except ImportError:  # pragma: no cover - internal module moved: use the exact path
            return None
        # Two tries (a shallow, then a deep ranking) before paying for the full-scan filter.
        for depth in sorted({min(pool * POST_FILTER_FACTOR, MAX_POST_FILTER), MAX_POST_FILTER}):
            raw = self.store.query(self.collection, vector, limit=depth)
            kept = [h for h in raw if check_filter(where, h.payload, h.id, {"dense": True})]
            groups = group_by_document([Passage.from_hit(h) for h in kept])
            if len(groups) >= need or len(raw) < depth:  # enough, or the whole collection was ranked
                return groups, len(raw) < depth
        return None

    def _hybrid(
        self,
        vector: np.ndarray,
        sparse: SparseVector,
        where: models.Filter | None,
        req: SearchRequest,
        floor: float | None,
    ) -> tuple[list[SearchHit], bool, int | None, bool]:
        """Dense + keyword fused with RRF; the floor applies to cosine, never to keyword matches."""
        limit, offset = max(1, req.limit), max(0, req.offset)
        query = np.asarray(vector, dtype=np.float32)

        def results_of(raw: list[Hit]) -> list[SearchHit]:
            passages = [Passage.from_hit(h) for h in raw]
            for p, h in zip(passages, raw, strict=True):
                if h.vector is not None:
                    p.similarity = float(np.asarray(h.vector, dtype=np.float32) @ query)
            if floor is not None:
                keep = _keyword_matches(self.encoder, sparse, passages)
                passages = [p for p in passages if p.id in keep or (p.similarity or 0.0) >= floor]
            return to_hits(passages, req.group_by_doc)

        results, exhausted = grow_pool(
            offset + limit + 1,
            lambda size: self.store.query(
                self.collection, vector, where=where, limit=size, sparse=sparse, with_vectors=True
            ),
            results_of,
        )
        total = len(results) if exhausted else None
        return results[offset : offset + limit], len(results) > offset + limit, total, False

    def more_like_this(
        self, point_id: str, *, limit: int = 10, same_doc: bool = False, langs: Sequence[str] = ()
    ) -> list[SearchHit]:
        """Passages closest to an indexed passage, in any language, grouped by document.

        The passage's own document is left out by default: "more like this" is for finding
        other documents (its translations included).
        """
        self.check()
        origin = self.store.retrieve(self.collection, [point_id])
        must_not = []
        if origin and not same_doc:
            must_not.append(match_any("doc_id", [origin[0].payload.get("doc_id")]))
        where = build_filter(SearchRequest(query="", langs=langs), extra_must_not=must_not)
        raw = self.store.recommend(
            self.collection, point_id, where=where, limit=min(limit * POOL_FACTOR, MAX_POOL)
        )
        return group_by_document([Passage.from_hit(h) for h in raw])[:limit]

    def more_like_document(self, doc_id: str, *, limit: int = 10) -> list[SearchHit]:
        """Documents closest to a whole document (the mean of its passage vectors), any language."""
        self.check()
        own = models.Filter(must=[match_any("doc_id", [doc_id])])
        hits, _ = self.store.scroll(self.collection, where=own, limit=1000, with_vectors=True)
        vectors = [h.vector for h in hits if h.vector is not None]
        if not vectors:
            return []
        centre = np.mean(np.asarray(vectors, dtype=np.float32), axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-9)
        where = build_filter(SearchRequest(query=""), extra_must_not=[match_any("doc_id", [doc_id])])
        raw = self.store.query(self.collection, centre, where=where, limit=min(limit * POOL_FACTOR, MAX_POOL))
        return group_by_document([Passage.from_hit(h) for h in raw])[:limit]

    def best_sentences(
        self, vector: np.ndarray, texts: Sequence[str], max_sentences: int = 16
    ) -> list[str | None]:
        """For each text, its sentence closest to the query vector (None for a single sentence).

        Sentence vectors are cached by text, so paging and re-runs do not encode them again.
        """
        from app.snippets import sentences

        split = [[t[a:b] for a, b in sentences(t)][:max_sentences] for t in texts]
        todo = sorted({s for parts in split if len(parts) > 1 for s in parts if s not in _sentence_cache})
        if todo:
            with _query_threads():
                encoded = self.encoder.encode_documents(todo)
            with _baseline_lock:
                for text, vec in zip(todo, encoded, strict=True):
                    if len(_sentence_cache) >= SENTENCE_CACHE:
                        _sentence_cache.pop(next(iter(_sentence_cache)))
                    _sentence_cache[text] = np.asarray(vec, dtype=np.float32)
        query = np.asarray(vector, dtype=np.float32)
        out: list[str | None] = []
        for parts in split:
            if len(parts) < 2:
                out.append(None)
                continue
            scores = [float(_sentence_cache[p] @ query) if p in _sentence_cache else -1.0 for p in parts]
            out.append(parts[int(np.argmax(scores))])
        return out

    def passages_of(self, doc_id: str, limit: int = 1000) -> list[Passage]:
        """Every passage of one document, in reading order."""
        hits, _ = self.store.scroll(
            self.collection, where=models.Filter(must=[match_any("doc_id", [doc_id])]), limit=limit
        )
        return sorted((Passage.from_hit(h) for h in hits), key=lambda p: p.chunk_index)


# ---- calibration helpers ----------------------------------------------------------------------
_baseline_lock = threading.Lock()
_baselines: dict[tuple[int, str], tuple[int, np.ndarray | None]] = {}
SENTENCE_CACHE = 20_000
_sentence_cache: dict[str, np.ndarray] = {}


def _baseline_sample(store: VectorStore, collection: str) -> np.ndarray | None:
    """A fixed sample of the collection's passage vectors, drawn once per (collection, size).

    Point ids are UUIDs (hashes), so the first passages in id order are a random-enough sample;
    a changed point count (an ingest) draws again.
    """
    count = store.count(collection)
    key = (id(store), collection)
    with _baseline_lock:
        cached = _baselines.get(key)
        if cached is not None and cached[0] == count:
            return cached[1]
        hits, _ = store.scroll(collection, limit=BASELINE_SAMPLE, with_vectors=True, with_payload=False)
        vectors = [h.vector for h in hits if h.vector is not None]
        sample = np.asarray(vectors, dtype=np.float32) if vectors else None
        _baselines[key] = (count, sample)
        return sample


def robust_location_scale(sims: np.ndarray) -> tuple[float, float]:
    """Median and MAD (scaled to a normal σ) of a query's similarities to random passages.

    Robust on purpose: the passages that *are* about the query sit in the sample's upper tail
    (in the demo corpus every topic has 16 translations, 8% of it), and a mean and standard
    deviation would count them as "typical", pulling every true hit's z-score down.
    """
    median = float(np.median(sims))
    mad = float(np.median(np.abs(sims - median))) * 1.4826
    return median, max(mad, 1e-6)


def _floor(req: SearchRequest, baseline: tuple[float, float] | None) -> float | None:
    """The cosine floor of a request: the user's minimum score and the calibrated cut-off, whichever
    is higher (None when neither applies)."""
    floors = [req.min_score] if req.min_score is not None else []
    if req.min_z is not None and baseline is not None:
        mean, std = baseline
        floors.append(mean + req.min_z * std)
    return max(floors) if floors else None


def _calibrate(p: Passage, baseline: tuple[float, float] | None) -> None:
    if baseline is not None and p.similarity is not None:
        p.z = round((p.similarity - baseline[0]) / baseline[1], 2)


def _keyword_matches(encoder: Encoder, query: SparseVector, passages: Sequence[Passage]) -> set[str]:
    """Ids of passages holding every query keyword, plus the best keyword match."""
    from indexer.sparse import sparse_vectors

    terms = set(query.indices)
    if not terms or not passages:
        return set()
    vectors = sparse_vectors(encoder.tokenizer, [p.text for p in passages])
    overlap = [len(terms & set(v.indices)) for v in vectors]
    best = max(overlap)
    return {p.id for p, n in zip(passages, overlap, strict=True) if n and (n == len(terms) or n == best)}


# ---- export -------------------------------------------------------------------------------
def to_dataframe(hits: Sequence[SearchHit], *, include_more: bool = False) -> pd.DataFrame:
    """Results as a flat table (one row per passage, with its result's rank) for CSV / Parquet."""
    rows: list[dict[str, Any]] = []
    for h in hits:
        passages = [h.passage, *(h.more if include_more else [])]
        for p in passages:
            row = {"rank": h.rank, **asdict(p)}
            row.pop("metadata")
            row["weak_match"] = p.weak if p.z is not None else None
            # Metadata values can be anything; strings keep Parquet's schema simple and stable.
            row.update({f"meta.{k}": str(v) for k, v in p.metadata.items()})
            row["more_passages"] = h.more_count if p is h.passage else None
            rows.append(row)
    columns = [
        "rank",
        "score",
        "similarity",
        "z",
        "weak_match",
        "lang",
        "title",
        "source",
        "doc_id",
        "chunk_index",
        "page",
        "char_start",
        "char_end",
        "text",
        "id",
        "doc_lang",
        "ingested_at",
        "more_passages",
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    ordered = [c for c in columns if c in frame.columns]
    return frame[ordered + [c for c in frame.columns if c not in ordered]]


def describe_request(req: SearchRequest) -> str:
    """The filters of a request in words, for export headers ("" when there are none)."""
    parts = []
    for name, value in (
        ("languages", ",".join(req.langs)),
        ("excluded", ",".join(req.exclude_langs)),
        ("source prefix", req.source_prefix),
        ("documents", ",".join(req.doc_ids)),
        ("from", req.ingested_from),
        ("to", req.ingested_to),
        ("min score", req.min_score),
        ("min z", req.min_z),
        ("hybrid", "yes" if req.hybrid else None),
    ):
        if value not in (None, ""):
            parts.append(f"{name}={value}")
    parts += [
        f"{k}={','.join(map(str, v)) if isinstance(v, list | tuple) else v}"
        for k, v in req.metadata.items()
        if v not in (None, "", [], ())
    ]
    return "; ".join(parts)


def with_context(
    frame: pd.DataFrame, query: str, filters: str, exported_at: datetime | None = None
) -> pd.DataFrame:
    """The table with the query, its filters and the export time on every row: a file says what it is."""
    out = frame.copy()
    out["query"] = query
    out["filters"] = filters
    out["exported_at"] = (exported_at or datetime.now().astimezone()).isoformat(timespec="seconds")
    return out


def export_filename(kind: str, query: str, extension: str, when: datetime | None = None) -> str:
    """`rosetta-<kind>-<query words>-<YYYYMMDD-HHMM>.<ext>`: safe on every filesystem."""
    import re
    import unicodedata

    words = re.sub(r"[^\w]+", "-", unicodedata.normalize("NFKC", query).casefold(), flags=re.UNICODE)
    slug = words.strip("-_")[:40].rstrip("-_") or "all"
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M")
    return f"rosetta-{kind}-{slug}-{stamp}.{extension}"


# A cell starting with one of these is run as a formula by Excel / LibreOffice / Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: Any) -> Any:
    """A spreadsheet-safe cell (OWASP CSV injection): text starting like a formula gets a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV for spreadsheets: UTF-8 with a BOM (Excel then reads Arabic, Japanese… right), formulas
    neutralised in every text cell (document text is untrusted)."""
    safe = frame.copy()
    for column in safe.columns:
        # Text columns are `object` or (pandas ≥ 3) `str`; numbers are written as numbers.
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise_formula)
    safe.columns = [neutralise_formula(str(c)) for c in safe.columns]
    # CRLF rows (Excel's own) also make the writer quote a bare carriage return inside a cell.
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
