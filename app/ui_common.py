"""What every page of the web app shares: settings, the cached store and model, the sidebar header.

The Streamlit server is one process, and the embedded store allows one process: so one store
handle per server is made with `st.cache_resource` and every session shares it. The embedded
store is opened on use and released after 30 idle seconds (`IdleReleasingStore`), so
`rosetta index` on the same data dir can run while the UI is open; while it runs, the UI says
who holds the store. The model is cached too; loading it takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from app.search import Passage, Searcher, SearchHit
from rosetta.langid import language_name
from rosetta.models import Encoder, ModelNotFoundError
from rosetta.schema import PAYLOAD_KEYS
from rosetta.settings import Settings
from rosetta.store import (
    CollectionNotFoundError,
    StoreError,
    VectorStore,
    edge_path,
    open_embedded,
    open_store,
)
from rosetta.store.shared import IdleReleasingStore

T = TypeVar("T")
# Seconds without a store call before the UI lets go of the embedded store: long enough that
# someone reading results does not pay a reopen (seconds at 300k passages,
# bench/results/query.json "open") on every click, short enough for `rosetta index` to get in.
STORE_IDLE_S = 30.0


def lang_label(code: str) -> str:
    """`German (de)`; the code alone where it names no language."""
    name = language_name(code)
    return f"{name} ({code})" if name else code


def md_escape(text: object) -> str:
    """Text safe inside Markdown (headings, captions): every character Markdown or Streamlit's
    extensions could read as markup is backslash-escaped, so a document title cannot add links,
    images (fetched from outside) or formatting."""
    specials = set("\\`*_{}[]()<>#+-.!|~$:")
    return "".join("\\" + ch if ch in specials else ch for ch in str(text)).replace("\n", " ")


def settings() -> Settings:
    """Settings from the environment (`rosetta ui` passes its options as ROSETTA_* variables)."""
    return Settings()


def _close_store(store: VectorStore) -> None:
    store.close()


# The cached resources are keyed by the settings that decide them (as JSON: hashable), so tests
# and a changed setting get the right one; they are built by the same functions as the CLI's.
STORE_KEYS = {
    "qdrant_url",
    "qdrant_api_key",
    "qdrant_prefer_grpc",
    "qdrant_grpc_port",
    "qdrant_timeout",
    "data_dir",
}
ENCODER_KEYS = {"model", "cache_dir", "device", "precision", "encoder_backend"}


@st.cache_resource(show_spinner="Opening the vector store…", on_release=_close_store)
def _store(key: str) -> VectorStore:
    cfg = Settings.model_validate_json(key)
    if cfg.qdrant_url:
        return open_store(cfg)
    # Embedded: opened on use and released when idle, so a CLI run can take its turn.
    path = Path(cfg.data_dir)
    return IdleReleasingStore(
        lambda: open_embedded(path), kind="edge", location=str(edge_path(path)), idle_s=STORE_IDLE_S
    )


@st.cache_resource(show_spinner="Loading the multilingual model (first time only, a few seconds)…")
def _encoder(key: str) -> Encoder:
    return Encoder.from_settings(Settings.model_validate_json(key))


def get_store(cfg: Settings) -> VectorStore:
    return _store(cfg.model_dump_json(include=STORE_KEYS))


def get_encoder(cfg: Settings) -> Encoder:
    return _encoder(cfg.model_dump_json(include=ENCODER_KEYS))


def guarded(fn: Callable[[], T]) -> T:
    """Run `fn`; on a store or model problem show a friendly error and stop this page run."""
    try:
        return fn()
    except (StoreError, ModelNotFoundError) as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
        raise  # unreachable: st.stop() raises; keeps type checkers honest


def store_or_stop(cfg: Settings) -> VectorStore:
    return guarded(lambda: get_store(cfg))


def choose_collection(store: VectorStore, cfg: Settings) -> str:
    """Sidebar picker over the store's collections (default: the configured one)."""
    names = guarded(store.collections)
    default = cfg.collection
    options = names if default in names else [default, *names]
    current = st.session_state.get("collection", default)
    index = options.index(current) if current in options else 0
    return st.sidebar.selectbox(
        "Collection",
        options,
        index=index,
        key="collection",
        help="Qdrant collection to search; `rosetta index --collection` makes more.",
    )


def collection_count(store: VectorStore, collection: str) -> int:
    try:
        return store.count(collection)
    except CollectionNotFoundError:
        return 0


def empty_collection_notice(collection: str) -> None:
    st.info(
        f"The collection **{collection}** is empty — index documents first: use the **Ingest** "
        "page, `rosetta index PATH`, or `rosetta demo` for the sample corpus.",
        icon=":material/inbox:",
    )


def searcher(cfg: Settings, store: VectorStore, collection: str) -> Searcher:
    encoder = guarded(lambda: get_encoder(cfg))
    return Searcher(encoder, store, collection)


def page_state(key: str, default: Any) -> Any:
    """A session value that survives page switches (widget keys are dropped when not rendered)."""
    if key not in st.session_state:
        st.session_state[key] = default
    return st.session_state[key]


MAX_FACET_VALUES = 50  # a field with more distinct values is free text, not a filter


@st.cache_data(show_spinner=False, max_entries=16, ttl=600)
def _metadata_fields(_store: VectorStore, collection: str, points: int) -> dict[str, list[str]]:
    hits, _ = _store.scroll(collection, limit=256)
    keys: set[str] = set()
    for h in hits:
        keys.update(
            k
            for k, v in Passage.from_hit(h).metadata.items()
            if isinstance(v, str | int | bool) and not k.startswith("_")
        )
    fields: dict[str, list[str]] = {}
    for key in sorted(keys - PAYLOAD_KEYS):
        try:
            values = _store.facet(collection, key, limit=MAX_FACET_VALUES + 1)
        except StoreError:
            continue  # no index for it on a server: not filterable
        if 1 <= len(values) <= MAX_FACET_VALUES:
            fields[key] = sorted(values)
    return fields


def metadata_fields(store: VectorStore, collection: str) -> dict[str, list[str]]:
    """Filterable metadata fields of a collection (table columns such as `category`) → values."""
    return _metadata_fields(store, collection, collection_count(store, collection))


def result_facets(hits: list[SearchHit], fields: list[str]) -> dict[str, dict[str, int]]:
    """Per-query facet counts: how many results have each value of each field, most first."""
    out: dict[str, dict[str, int]] = {}
    for name in fields:
        counts: dict[str, int] = {}
        for h in hits:
            p = h.passage
            value = p.lang if name == "lang" else p.metadata.get(name)
            if value not in (None, ""):
                counts[str(value)] = counts.get(str(value), 0) + 1
        if counts:
            out[name] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return out
