"""Search page: a query in any language, ranked passages in every language."""

from __future__ import annotations

import hashlib

import streamlit as st

from app import ui_common as ui
from app.search import (
    RANKING_LABELS,
    RANKINGS,
    SearchError,
    SearchHit,
    SearchRequest,
    SearchResult,
    to_csv_bytes,
    to_dataframe,
    to_parquet_bytes,
)
from app.snippets import escape, highlight, snippet
from indexer.store import StoreError

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
.rosetta-snippet { margin-top: 0.35rem; }
.rosetta-snippet mark, .rosetta-full mark { background: #ffe58a; padding: 0 0.1rem; border-radius: 0.15rem; }
.rosetta-full { white-space: pre-wrap; }
.rosetta-meta { color: #777; font-size: 0.8rem; margin-top: 0.3rem; }
</style>
"""
# Dark enough for white text (WCAG AA at badge size).
BADGE_COLORS = ["#3b6796", "#b85c00", "#2e7d32", "#8e4585", "#c62828", "#00796b", "#6d4c41",
                "#5e35b1", "#ad1457", "#455a64", "#2f4b7c", "#7a5c00"]


def badge_color(lang: str) -> str:
    # Stable per language across runs (hash() is salted per process).
    return BADGE_COLORS[int(hashlib.md5(lang.encode()).hexdigest(), 16) % len(BADGE_COLORS)]


def card_html(hit: SearchHit, query: str, query_lang: str, best: float) -> str:
    p = hit.passage
    # Highlight where the query's words can occur: same-language hits (or an undetermined query).
    same_lang = query_lang in (p.lang, "und")
    width = 100 * max(0.0, min(1.0, p.score / best)) if best > 0 else 0
    where = p.source + (f" · page {p.page}" if p.page else "") + f" · passage {p.chunk_index + 1}"
    more = f" · {hit.more_count} more passage{'s' if hit.more_count != 1 else ''} in this document" \
        if hit.more_count else ""
    return (
        '<div class="rosetta-card"><div class="rosetta-head">'
        f'<span class="rosetta-rank">#{hit.rank}</span>'
        f'<span class="rosetta-badge" style="background:{badge_color(p.lang)}">{escape(p.lang)}</span>'
        f'<span class="rosetta-title">{escape(p.title)}</span>'
        f'<span class="rosetta-score" title="score">{p.score:.3f}'
        f'<span class="rosetta-bar"><div style="width:{width:.0f}%"></div></span></span>'
        f'</div><div class="rosetta-source">{escape(where)}{escape(more)}</div>'
        f'<div class="rosetta-snippet">{snippet(p.text, query, enabled=same_lang, title=p.title)}</div></div>'
    )


def render_hits(result: SearchResult, key_prefix: str) -> None:
    best = max((h.score for h in result.hits), default=0.0)
    for hit in result.hits:
        p = hit.passage
        with st.container(border=True):
            st.html(card_html(hit, result.query, result.query_lang, best))
            same_lang = result.query_lang in (p.lang, "und")
            cols = st.columns([5, 1])
            with cols[0].expander("Full passage" + (f" and {hit.more_count} more" if hit.more else "")):
                full = highlight(p.text, result.query, enabled=same_lang)
                st.html(f'<div class="rosetta-full">{full}</div>')
                meta = {"doc_id": p.doc_id, "language": p.lang, "ingested": p.ingested_at,
                        "characters": f"{p.char_start}–{p.char_end}", **p.metadata}
                st.html('<div class="rosetta-meta">' + " · ".join(
                    f"{escape(k)}: {escape(v)}" for k, v in meta.items() if v not in (None, "")) + "</div>")
                for other in hit.more:
                    st.divider()
                    st.html(f'<div class="rosetta-meta">passage {other.chunk_index + 1} · score '
                            f'{other.score:.3f}</div><div class="rosetta-full">'
                            f'{highlight(other.text, result.query, enabled=same_lang)}</div>')
            cols[1].button("More like this", key=f"{key_prefix}-mlt-{p.id}", on_click=_set_mlt,
                           args=(p.id, p.title), help="Similar passages in other documents, any language")


def _set_mlt(point_id: str, title: str) -> None:
    st.session_state["mlt"] = (point_id, title)


def _clear_mlt() -> None:
    st.session_state.pop("mlt", None)


def _page(delta: int) -> None:
    st.session_state["offset"] = max(0, st.session_state.get("offset", 0) + delta)


st.html(CSS)
cfg = ui.settings()
store = ui.store_or_stop(cfg)
collection = ui.choose_collection(store, cfg)
total = ui.collection_count(store, collection)

st.title("Search")
st.caption("Ask in any language — Rosetta finds the best passages in every language.")
if total == 0:
    ui.empty_collection_notice(collection)
    st.stop()

# ---- sidebar filters ----------------------------------------------------------------------
sb = st.sidebar
lang_counts = ui.guarded(lambda: store.facet(collection, "lang", limit=200))
sb.subheader("Filters")
langs = sb.multiselect("Languages", list(lang_counts), key="f_langs",
                       format_func=lambda c: f"{ui.lang_label(c)} · {lang_counts.get(c, 0)}",
                       placeholder="all languages")
exclude = sb.multiselect("Exclude languages", list(lang_counts), key="f_exclude",
                         format_func=ui.lang_label, placeholder="none")
source_counts = ui.guarded(lambda: store.facet(collection, "source", limit=500))
source_prefix = sb.text_input("Source starts with", key="f_source", placeholder="e.g. reports/2024/",
                              help="A folder or file prefix of the document's source path.")
if source_prefix:
    matching = sum(n for s, n in source_counts.items() if s.startswith(source_prefix))
    sb.caption(f"{matching} passages in sources starting with that prefix"
               + (" (of the top 500 sources)" if len(source_counts) >= 500 else ""))
dates = sb.date_input("Ingested between", value=(), key="f_dates", format="YYYY-MM-DD")
sb.subheader("Ranking")
top_k = sb.slider("Results per page", 1, 50, 10, key="f_topk")
ranking = sb.selectbox("Ranking", RANKINGS, key="f_ranking", format_func=RANKING_LABELS.__getitem__,
                       help="Language-neutral: the best matches in any language. Prefer query language: "
                       "the same, own-language passages lifted a little. One per language: the best "
                       "match in each language.")
hybrid = sb.toggle("Hybrid: meaning + keywords", key="f_hybrid", value=False,
                   help="Fuse dense (semantic) and keyword rankings with RRF. Dense only is the default.")
grouped = sb.toggle("One result per document", key="f_grouped", value=True)
min_score = sb.slider("Minimum score", 0.0, 1.0, 0.0, 0.01, key="f_min",
                      help="Cosine similarity floor for the semantic ranking (0 = no floor).")
sb.caption(f"{total:,} passages · {len(lang_counts)} languages in **{collection}**")

query = st.text_input("Query", key="query", placeholder="Type a question or keywords in any language…",
                      label_visibility="collapsed")

date_from = dates[0] if len(dates) >= 1 else None
date_to = dates[1] if len(dates) == 2 else None
signature = (query, tuple(langs), tuple(exclude), source_prefix, date_from, date_to, top_k, hybrid,
             grouped, min_score, collection, ranking)
if st.session_state.get("signature") != signature:
    # A new question (or new filters) starts again at the first page.
    st.session_state["signature"] = signature
    st.session_state["offset"] = 0
offset = st.session_state.get("offset", 0)

request = SearchRequest(query=query, limit=top_k, offset=offset, langs=langs, exclude_langs=exclude,
                        source_prefix=source_prefix or None, ingested_from=date_from, ingested_to=date_to,
                        min_score=min_score or None, hybrid=hybrid, group_by_doc=grouped, ranking=ranking)
engine = ui.searcher(cfg, store, collection)

mlt = st.session_state.get("mlt")
if mlt:
    point_id, title = mlt
    st.button("← Back to results", on_click=_clear_mlt)
    st.subheader(f"More like “{title}”")
    st.caption("Closest passages in other documents, in any language (language filters do not apply).")
    try:
        # Across all languages on purpose: finding the same content elsewhere is the point.
        similar = engine.more_like_this(point_id, limit=top_k)
    except StoreError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    if not similar:
        st.info("Nothing similar found outside this document.", icon=":material/search_off:")
    render_hits(SearchResult(query="", query_lang="und", hits=similar), "mlt")
    st.stop()

if not query.strip():
    st.info("Type a query above — any language works. Try *wie pflege ich tomaten?* or *月の満ち欠け*.",
            icon=":material/lightbulb:")
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
st.caption(
    f"Query language: **{ui.lang_label(result.query_lang)}** · "
    + (f"results {offset + 1}–{offset + len(result.hits)} ({unit})" if result.hits else "no results")
    + f" · encode {result.encode_ms:.0f} ms · search {result.search_ms:.0f} ms"
    + (" · hybrid" if result.hybrid else "")
)
if not result.hits:
    active = [name for name, on in (("languages", langs), ("excluded languages", exclude),
                                    ("source prefix", source_prefix), ("dates", dates),
                                    ("minimum score", min_score)) if on]
    hint = f" Try removing filters ({', '.join(active)})." if active else " Try other words."
    st.info(("No passages matched on this page." if offset else "No passages matched.") + hint,
            icon=":material/search_off:")
else:
    render_hits(result, "res")

nav = st.columns([1, 1, 4, 1, 1])
nav[0].button("← Previous", disabled=offset == 0, on_click=_page, args=(-top_k,))
nav[1].button("Next →", disabled=not result.has_more, on_click=_page, args=(top_k,))
if result.hits:
    frame = to_dataframe(result.hits, include_more=True)
    nav[3].download_button("CSV", to_csv_bytes(frame), "rosetta-results.csv", "text/csv",
                           help="Export this page of results (with their other passages)")
    nav[4].download_button("Parquet", to_parquet_bytes(frame), "rosetta-results.parquet",
                           "application/octet-stream")
