"""Search page: a query in any language, ranked passages in every language.

The search state (query, filters, page, "more like this", the open document) lives in the URL
(`?q=…&lang=…&p=2`): widgets are bound to query parameters and kept for the whole session, so a
search survives a trip to Explore, a reload, a bookmark and a shared link.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal, TypedDict

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app import ui_common as ui
from app.search import (
    DEFAULT_MIN_Z,
    RANKING_LABELS,
    RANKINGS,
    WEAK_Z,
    Passage,
    Searcher,
    SearchError,
    SearchHit,
    SearchRequest,
    SearchResult,
    describe_request,
    export_filename,
    to_csv_bytes,
    to_dataframe,
    to_parquet_bytes,
    with_context,
)
from app.snippets import Marking, escape, highlight, marking_for, shown_text, snippet
from rosetta.langid import language_name
from rosetta.store import StoreError

# Cards are HTML built only from escaped strings (see card_html); st.html, not st.markdown, so a
# `$` or `*` in a document is never read as LaTeX or Markdown.
CSS = """
<style>
.rosetta-card { font-size: 0.95rem; line-height: 1.45; }
.rosetta-head { display: flex; align-items: center; gap: 0.6rem; flex-wrap: wrap; }
.rosetta-rank { font-weight: 700; color: #555; min-width: 2.2rem; }
.rosetta-badge { font-size: 0.75rem; font-weight: 700; padding: 0.1rem 0.45rem; border-radius: 0.4rem;
                 color: #fff; text-transform: uppercase; letter-spacing: 0.03em; }
.rosetta-title { font-weight: 600; font-size: 1.05rem; }
.rosetta-source { color: #777; font-size: 0.8rem; word-break: break-all; }
.rosetta-score { display: flex; align-items: center; gap: 0.4rem; margin-left: auto; font-size: 0.8rem;
                 color: #555; font-variant-numeric: tabular-nums; }
.rosetta-bar { width: 90px; height: 0.45rem; background: #e6e6e6; border-radius: 0.3rem; overflow: hidden; }
.rosetta-bar > div { height: 100%; background: #4c78a8; }
.rosetta-weak { font-size: 0.72rem; font-weight: 700; color: #8a5a00; background: #fff3d6;
                border-radius: 0.3rem; padding: 0.05rem 0.35rem; }
.rosetta-snippet { margin-top: 0.35rem; }
.rosetta-snippet mark, .rosetta-full mark { background: #ffe58a; padding: 0 0.1rem; border-radius: 0.15rem; }
mark.rosetta-sentence { background: #dbeafe; padding: 0.05rem 0; }
.rosetta-full { white-space: pre-wrap; }
.rosetta-passage { border-left: 3px solid #e6e6e6; padding-left: 0.6rem; margin: 0.4rem 0; }
.rosetta-passage.hit { border-left-color: #4c78a8; background: #f5f8fc; }
.rosetta-meta { color: #777; font-size: 0.8rem; margin-top: 0.3rem; }
</style>
"""
# Dark enough for white text (WCAG AA at badge size).
BADGE_COLORS = [
    "#3b6796",
    "#b85c00",
    "#2e7d32",
    "#8e4585",
    "#c62828",
    "#00796b",
    "#6d4c41",
    "#5e35b1",
    "#ad1457",
    "#455a64",
    "#2f4b7c",
    "#7a5c00",
]
SNIPPET_WIDTH = 320
Z_FULL_BAR = 10.0  # a z-score this high fills the score bar
AUTO = "auto"


def badge_color(lang: str) -> str:
    # Stable per language across runs (hash() is salted per process).
    return BADGE_COLORS[int(hashlib.md5(lang.encode()).hexdigest(), 16) % len(BADGE_COLORS)]


def score_html(p: Passage, hybrid: bool) -> str:
    """The score with its meaning: cosine similarity (and RRF in hybrid), calibrated by the z-score."""
    parts = []
    if hybrid:
        parts.append(
            f'<span title="reciprocal rank fusion of the semantic and keyword rankings '
            f'(rank-based, no absolute scale)">RRF {p.score:.3f}</span>'
        )
    if p.similarity is not None:
        parts.append(f'<span title="cosine similarity to the query">similarity {p.similarity:.3f}</span>')
    if p.z is not None:
        parts.append(
            f"<span title=\"standard deviations above this query's typical passage in the "
            f'collection">z {p.z:.1f}</span>'
        )
        width = 100 * max(0.0, min(1.0, p.z / Z_FULL_BAR))
        parts.append(f'<span class="rosetta-bar"><div style="width:{width:.0f}%"></div></span>')
    if p.weak:
        parts.append(
            '<span class="rosetta-weak" title="barely above random passages of this '
            'collection">weak match</span>'
        )
    return '<span class="rosetta-score">' + " · ".join(parts[:3]) + "".join(parts[3:]) + "</span>"


def card_html(hit: SearchHit, query: str, marking: Marking | None, hybrid: bool = False) -> str:
    p = hit.passage
    pages = _pages(p)
    where = p.source + (f" · {pages}" if pages else "") + f" · passage {p.chunk_index + 1}"
    more = (
        f" · {hit.more_count} more passage{'s' if hit.more_count != 1 else ''} in this document"
        if hit.more_count
        else ""
    )
    body = snippet(
        p.text, query, enabled=marking is not None, width=SNIPPET_WIDTH, title=p.title, marking=marking
    )
    return (
        '<div class="rosetta-card"><div class="rosetta-head">'
        f'<span class="rosetta-rank">#{hit.rank}</span>'
        f'<span class="rosetta-badge" style="background:{badge_color(p.lang)}">{escape(p.lang)}</span>'
        f'<span class="rosetta-title" dir="auto">{escape(p.title)}</span>'
        f"{score_html(p, hybrid)}"
        f'</div><div class="rosetta-source">{escape(where)}{escape(more)}</div>'
        # dir="auto": Arabic and Hebrew snippets align right, as they read.
        f'<div class="rosetta-snippet" dir="auto">{body}</div></div>'
    )


def _pages(p: Passage) -> str:
    end = p.metadata.get("page_end")
    if p.page and end and end != p.page:
        return f"pages {p.page}–{end}"
    return f"page {p.page}" if p.page else ""


def markings(result: SearchResult, engine: Searcher | None) -> dict[str, Marking]:
    """What to mark in each shown passage: terms by language, plus the model's best sentence
    where the window needs choosing (long passages) or words cannot carry the match (other
    languages)."""
    passages = [q for h in result.hits for q in (h.passage, *h.more)]
    query_lang = None if result.query_lang == "und" else result.query_lang
    best: dict[str, str | None] = {}
    if engine is not None and result.vector is not None:
        needs = [q for q in passages if len(q.text) > SNIPPET_WIDTH or (query_lang and q.lang != query_lang)]
        try:
            # Sentences of what the card shows: a title line would otherwise often win.
            found = engine.best_sentences(result.vector, [shown_text(q.text, q.title) for q in needs])
        except Exception:  # highlighting must never break a search page
            found = [None] * len(needs)
        best = {q.id: s for q, s in zip(needs, found, strict=True)}
    return {
        q.id: marking_for(result.query, query_lang, q.lang, best_sentence=best.get(q.id)) for q in passages
    }


OPEN_DOC_HELP = "The whole document, every passage, its metadata"
MORE_LIKE_THIS_HELP = "Similar passages in other documents, any language"


def render_hits(result: SearchResult, key_prefix: str, engine: Searcher | None = None) -> None:
    marks = markings(result, engine) if result.query else {}

    def marked(q: Passage) -> str:
        return highlight(q.text, result.query, enabled=q.id in marks, marking=marks.get(q.id))

    for hit in result.hits:
        p = hit.passage
        with st.container(border=True):
            st.html(card_html(hit, result.query, marks.get(p.id), result.hybrid))
            cols = st.columns([4, 1, 1])
            with cols[0].expander("Full passage" + (f" and {hit.more_count} more" if hit.more else "")):
                st.html(f'<div class="rosetta-full" dir="auto">{marked(p)}</div>')
                st.html(meta_html(p))
                for other in hit.more:
                    st.divider()
                    st.html(
                        f'<div class="rosetta-meta">passage {other.chunk_index + 1} · similarity '
                        f"{other.similarity if other.similarity is not None else other.score:.3f}"
                        f'</div><div class="rosetta-full" dir="auto">'
                        f"{marked(other)}</div>"
                    )
            actions = (
                ("Open document", "doc", _open_doc, p.doc_id, OPEN_DOC_HELP),
                ("More like this", "mlt", _set_mlt, p.id, MORE_LIKE_THIS_HELP),
            )
            for col, (label, kind, action, arg, tip) in zip(cols[1:], actions, strict=True):
                col.button(label, key=f"{key_prefix}-{kind}-{p.id}", on_click=action, args=(arg,), help=tip)


def meta_html(p: Passage) -> str:
    meta = {
        "doc_id": p.doc_id,
        "language": p.lang,
        "ingested": p.ingested_at,
        "characters": f"{p.char_start}–{p.char_end}",
        **p.metadata,
    }
    return (
        '<div class="rosetta-meta">'
        + " · ".join(f"{escape(k)}: {escape(v)}" for k, v in meta.items() if v not in (None, ""))
        + "</div>"
    )


# ---- state ------------------------------------------------------------------------------------
# Widget keys double as URL parameter names (bind="query-params"); keep them short.
def _set_mlt(point_id: str) -> None:
    st.session_state["view_doc"] = None
    st.query_params.pop("doc", None)
    st.query_params["mlt"] = point_id


def _open_doc(doc_id: str) -> None:
    st.query_params.pop("mlt", None)
    st.query_params["doc"] = doc_id


def _back() -> None:
    st.query_params.pop("mlt", None)
    st.query_params.pop("doc", None)


def _new_query() -> None:
    # A new question leaves "more like this" and the document view, and starts at page 1.
    _back()
    st.query_params.pop("p", None)


def _page(delta: int) -> None:
    page = max(1, int(st.query_params.get("p", "1") or 1) + delta)
    if page == 1:
        st.query_params.pop("p", None)
    else:
        st.query_params["p"] = str(page)


def _current_page() -> int:
    try:
        return max(1, int(st.query_params.get("p", "1")))
    except ValueError:
        return 1


# ---- page -------------------------------------------------------------------------------------
st.html(CSS)
cfg = ui.settings()
store = ui.store_or_stop(cfg)
collection = ui.choose_collection(store, cfg)
total_passages = ui.collection_count(store, collection)

st.title("Search")
st.caption("Ask in any language — Rosetta finds the best passages in every language.")
if total_passages == 0:
    ui.empty_collection_notice(collection)
    st.stop()


class _Bind(TypedDict):
    bind: Literal["query-params"]
    persist_state: Literal["session"]


# Bound widgets keep their value in the URL (shareable, reloadable) and across pages of the session.
BIND: _Bind = {"bind": "query-params", "persist_state": "session"}
PASTE_PLACEHOLDER = "Paste a paragraph in any language…"
TYPE_PLACEHOLDER = "Type a question or keywords in any language…"
sb = st.sidebar
lang_counts = ui.guarded(lambda: store.facet(collection, "lang", limit=200))
lang_options = sorted(lang_counts, key=lambda c: (-lang_counts[c], c))
meta_fields = ui.guarded(lambda: ui.metadata_fields(store, collection))

multiline = st.toggle(
    "Paste a paragraph", key="long", help="A multi-line box for long queries (Ctrl+Enter searches).", **BIND
)
query_box: dict[str, Any] = {"label_visibility": "collapsed", "on_change": _new_query, **BIND}
if multiline:
    query = st.text_area("Query", key="ql", placeholder=PASTE_PLACEHOLDER, height=120, **query_box)
else:
    query = st.text_input("Query", key="q", placeholder=TYPE_PLACEHOLDER, **query_box)
query = query or ""

sb.subheader("Filters")
facet_slot = sb.empty()  # per-query counts, filled once the results are known
# Options are the ISO codes themselves (a bound widget writes its option labels into the URL:
# `?lang=de&lang=fr` stays short and stable); the help names them.
names = ", ".join(f"{c} = {language_name(c) or c}" for c in lang_options)
langs = sb.multiselect(
    "Languages",
    lang_options,
    key="lang",
    placeholder="all languages",
    on_change=_new_query,
    help=names,
    **BIND,
)
exclude = sb.multiselect(
    "Exclude languages",
    lang_options,
    key="xlang",
    placeholder="none",
    on_change=_new_query,
    help=names,
    **BIND,
)
if set(langs) & set(exclude):
    sb.warning(
        "Included and excluded at once: "
        + ", ".join(ui.lang_label(c) for c in sorted(set(langs) & set(exclude)))
        + " — excluding wins, so these languages return nothing.",
        icon=":material/warning:",
    )
source_prefix = sb.text_input(
    "Source starts with",
    key="src",
    placeholder="e.g. reports/2024/",
    help="A folder or file prefix of the document's source path.",
    on_change=_new_query,
    **BIND,
)
metadata: dict[str, list[str]] = {}
for name, values in meta_fields.items():
    chosen = sb.multiselect(
        ui.md_escape(name), values, key=f"m.{name}", placeholder="any", on_change=_new_query, **BIND
    )
    if chosen:
        metadata[name] = chosen
dcols = sb.columns(2)
date_from = dcols[0].date_input(
    "Ingested from", value=None, key="from", format="YYYY-MM-DD", on_change=_new_query, **BIND
)
date_to = dcols[1].date_input("to", value=None, key="to", format="YYYY-MM-DD", on_change=_new_query, **BIND)

sb.subheader("Ranking")
top_k = sb.slider("Results per page", 1, 50, 10, key="k", on_change=_new_query, **BIND)
ranking = sb.selectbox(
    "Ranking",
    RANKINGS,
    key="rank",
    format_func=RANKING_LABELS.__getitem__,
    on_change=_new_query,
    **BIND,
    help="Language-neutral: the best matches in any language. Prefer query language: "
    "the same, own-language passages lifted a little. One per language: the best "
    "match in each language.",
)
hybrid = sb.toggle(
    "Hybrid: meaning + keywords",
    key="hybrid",
    value=False,
    on_change=_new_query,
    help="Fuse dense (semantic) and keyword rankings with RRF; the score shown is then "
    "RRF (rank-based), with each hit's cosine similarity beside it.",
    **BIND,
)
grouped = sb.toggle("One result per document", key="group", value=True, on_change=_new_query, **BIND)
hide_weak = sb.toggle(
    f"Stop at weak matches (z < {DEFAULT_MIN_Z:g})",
    key="cut",
    value=True,
    on_change=_new_query,
    **BIND,
    help="Leave out passages that are barely closer to the query than random passages "
    "of this collection (the z-score compares each hit with them).",
)
min_score = sb.slider(
    "Minimum similarity",
    0.0,
    1.0,
    0.0,
    0.01,
    key="min",
    on_change=_new_query,
    **BIND,
    help="Cosine similarity floor (0 = none). In hybrid mode it never removes a passage "
    "that holds all the query's keywords.",
)
override = sb.selectbox(
    "Query language",
    [AUTO, *lang_options],
    key="qlang",
    on_change=_new_query,
    help="`auto` detects it. Used for highlighting only: ranking works across languages either way.",
    **BIND,
)
sb.caption(f"{total_passages:,} passages · {len(lang_counts)} languages in **{collection}**")

if isinstance(date_from, date) and isinstance(date_to, date) and date_from > date_to:
    st.warning("The start date is after the end date: nothing can match.", icon=":material/event_busy:")

page_no = _current_page()
offset = (page_no - 1) * top_k
request = SearchRequest(
    query=query,
    limit=top_k,
    offset=offset,
    langs=langs,
    exclude_langs=exclude,
    source_prefix=source_prefix or None,
    metadata=metadata,
    ingested_from=date_from if isinstance(date_from, date) else None,
    ingested_to=date_to if isinstance(date_to, date) else None,
    min_score=min_score or None,
    min_z=DEFAULT_MIN_Z if hide_weak else None,
    hybrid=hybrid,
    group_by_doc=grouped,
    ranking=ranking,
    query_lang=None if override == AUTO else override,
)
engine = ui.searcher(cfg, store, collection)


def export_buttons(
    rows: pd.DataFrame, kind: str, label_query: str, filters: str, where: Sequence[DeltaGenerator]
) -> None:
    frame = with_context(rows, label_query, filters)
    where[0].download_button(
        "Export CSV",
        to_csv_bytes(frame),
        export_filename(kind, label_query, "csv"),
        "text/csv",
        help="Every result (not only this page), one row per passage, "
        "with the query, filters and date; UTF-8 for Excel.",
    )
    where[1].download_button(
        "Parquet",
        to_parquet_bytes(frame),
        export_filename(kind, label_query, "parquet"),
        "application/octet-stream",
    )


doc_id = st.query_params.get("doc")
if doc_id:
    st.button("← Back to results", on_click=_back, key="back-doc")
    try:
        passages = engine.passages_of(doc_id)
    except StoreError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    if not passages:
        st.info("This document is no longer in the collection.", icon=":material/search_off:")
        st.stop()
    head = passages[0]
    st.subheader(ui.md_escape(head.title))
    st.caption(
        ui.md_escape(
            f"{head.source} · {ui.lang_label(head.doc_lang or head.lang)} · {len(passages)} passages"
        )
    )
    st.html(meta_html(head))
    hits_in_doc: set[str] = set()
    marks: dict[str, Marking] = {}
    if query.strip():
        try:
            found = engine.search(
                SearchRequest(
                    query=query,
                    limit=len(passages),
                    doc_ids=[doc_id],
                    group_by_doc=False,
                    min_z=request.min_z,
                    query_lang=request.query_lang,
                )
            )
            hits_in_doc = {h.passage.id for h in found.hits}
            marks = markings(found, engine)
        except (SearchError, StoreError):
            pass
        st.caption(f"{len(hits_in_doc)} of {len(passages)} passages match “{ui.md_escape(query)}” (marked).")
    for p in passages:
        cls = "rosetta-passage hit" if p.id in hits_in_doc else "rosetta-passage"
        body = highlight(p.text, query, enabled=p.id in marks, marking=marks.get(p.id))
        pages = _pages(p)
        st.html(
            f'<div class="{cls}"><div class="rosetta-meta">passage {p.chunk_index + 1}'
            f"{' · ' + escape(pages) if pages else ''} · {escape(p.lang)}</div>"
            f'<div class="rosetta-full" dir="auto">{body}</div></div>'
        )
    st.subheader("More like this document")
    similar = engine.more_like_document(doc_id, limit=top_k)
    render_hits(SearchResult(query="", query_lang="und", hits=similar), "mld")
    st.stop()

mlt = st.query_params.get("mlt")
if mlt:
    st.button("← Back to results", on_click=_back, key="back-mlt")
    try:
        origin = store.retrieve(collection, [mlt])
        # Across all languages on purpose: finding the same content elsewhere is the point.
        similar = engine.more_like_this(mlt, limit=top_k)
    except StoreError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    title = Passage.from_hit(origin[0]).title if origin else mlt
    st.subheader(f"More like “{ui.md_escape(title)}”")
    st.caption("Closest passages in other documents, in any language (language filters do not apply).")
    if not similar:
        st.info("Nothing similar found outside this document.", icon=":material/search_off:")
    else:
        export_buttons(
            to_dataframe(similar, include_more=True),
            "similar",
            title,
            f"more like this: {mlt}",
            st.columns([1, 1, 4]),
        )
    render_hits(SearchResult(query="", query_lang="und", hits=similar), "mlt")
    st.stop()

if not query.strip():
    st.info(
        "Type a query above — any language works. Try *wie pflege ich tomaten?* or *月の満ち欠け*.",
        icon=":material/lightbulb:",
    )
    st.stop()

try:
    with st.spinner("Searching…"):
        result = engine.search(request)
except SearchError as exc:
    st.warning(str(exc), icon=":material/error:")
    st.stop()
except StoreError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

unit = "documents" if grouped else "passages"
if result.language is not None:
    detected = (
        f"Query language: **{ui.lang_label(result.language.lang)}**"
        if result.language.lang
        else "Query language: not determined (searching all languages alike)"
    )
else:
    detected = f"Query language: **{ui.lang_label(result.query_lang)}** (chosen)"
if result.hits:
    first, last = offset + 1, offset + len(result.hits)
    of = f" of {result.total:,}{'+' if result.total_capped else ''}" if result.total is not None else ""
    counts = f"{unit} {first}–{last}{of}"
else:
    counts = "no results"
st.caption(
    f"{detected} · {counts} · encode {result.encode_ms:.0f} ms · search {result.search_ms:.0f} ms"
    + (" · hybrid (scores: RRF, with cosine similarity)" if result.hybrid else "")
)
if result.hits and all(h.passage.weak for h in result.hits):
    st.warning(
        f"Only weak matches: none of these passages stands out from random passages of the "
        f"collection (z < {WEAK_Z:g}). The collection may hold nothing on this.",
        icon=":material/help:",
    )
if not result.hits:
    active = [
        name
        for name, on in (
            ("languages", langs),
            ("excluded languages", exclude),
            ("source prefix", source_prefix),
            ("fields", metadata),
            ("dates", date_from or date_to),
            ("minimum similarity", min_score),
        )
        if on
    ]
    hint = f" Try removing filters ({', '.join(active)})." if active else " Try other words."
    if hide_weak and not active:
        hint = (
            " Nothing stands out from random passages; switch off *Stop at weak matches* to see the closest."
        )
    st.info(
        ("No passages matched on this page." if offset else "No passages matched.") + hint,
        icon=":material/search_off:",
    )
else:
    render_hits(result, "res", engine)

nav = st.columns([1, 1, 3, 1, 1])
nav[0].button("← Previous", disabled=page_no == 1, on_click=_page, args=(-1,))
nav[1].button("Next →", disabled=not result.has_more, on_click=_page, args=(1,))
if result.hits:
    everything = engine.search_all(request)
    export_buttons(
        to_dataframe(everything.hits, include_more=True), "search", query, describe_request(request), nav[3:]
    )
    # Facets of this query's results (documents when grouped), not of the whole corpus.
    with facet_slot.container():
        for facet, facet_counts in ui.result_facets(everything.hits, ["lang", *meta_fields]).items():
            label = "Languages" if facet == "lang" else facet
            fmt = ui.lang_label if facet == "lang" else str
            st.caption(
                f"{ui.md_escape(label)} in these results: "
                + " · ".join(f"{ui.md_escape(fmt(k))} {v}" for k, v in facet_counts.items())
            )
