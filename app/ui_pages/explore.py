"""Explore page: what the corpus holds per language and source, a map of it, and a translation finder."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import explore
from app import ui_common as ui
from app.search import export_filename, to_csv_bytes
from rosetta.store import VectorStore


# Results are cached per (collection, point count): a new ingest changes the count and refreshes them.
@st.cache_data(show_spinner="Projecting passages to 2-D and finding topics…", max_entries=8)
def cached_map(
    _store: VectorStore, collection: str, points: int, n: int, method: str, topics: int
) -> tuple[pd.DataFrame, str]:
    return explore.map_frame(_store, collection, n=n, method=method, topics=topics)


@st.cache_data(show_spinner="Counting passages per folder…", max_entries=8)
def cached_stats(_store: VectorStore, collection: str, points: int) -> explore.CorpusStats:
    return explore.corpus_stats(_store, collection)


@st.cache_data(show_spinner="Mining translation pairs (margin scoring)…", max_entries=16)
def cached_pairs(
    _store: VectorStore,
    collection: str,
    points: int,
    a: str,
    b: str,
    sample: int,
    k: int,
    limit: int,
    min_margin: float,
) -> pd.DataFrame:
    return explore.find_translations(
        _store, collection, a, b, sample=sample, k=k, limit=limit, min_margin=min_margin
    )


cfg = ui.settings()
store = ui.store_or_stop(cfg)
collection = ui.choose_collection(store, cfg)
st.title("Explore")
total = ui.collection_count(store, collection)
if total == 0:
    ui.empty_collection_notice(collection)
    st.stop()

stats = ui.guarded(lambda: cached_stats(store, collection, total))
cols = st.columns(3)
cols[0].metric("Documents", f"{stats.documents:,}")
cols[1].metric("Passages", f"{stats.chunks:,}")
cols[2].metric("Languages", len(stats.by_lang))

st.subheader("Per language")
long = stats.by_lang.melt(id_vars="lang", var_name="count of", value_name="n")
long["language"] = long["lang"].map(ui.lang_label)
# Horizontal bars: language names stay readable however many languages there are.
chart = (
    alt.Chart(long)
    .mark_bar()
    .encode(
        y=alt.Y("language:N", sort=list(stats.by_lang["lang"].map(ui.lang_label)), title=None),
        x=alt.X("n:Q", title=None),
        yOffset="count of:N",
        color=alt.Color("count of:N", title=None, legend=alt.Legend(orient="top")),
        tooltip=["language", "count of", "n"],
    )
    .properties(height=max(160, 34 * len(stats.by_lang)))
)
st.altair_chart(chart, width="stretch")

with st.expander(f"Sources: {len(stats.sources):,} folders"):
    st.dataframe(stats.sources, hide_index=True, width="stretch")

st.subheader("Map of the corpus")
st.caption(
    "A sample of passages, placed by meaning: translations and passages on one topic land close "
    "together whatever their language. Hover a point to read it; click it to open its document."
)
mcols = st.columns([2, 1, 1, 1])
most = min(5000, total)
if most > 50:
    sample_n = mcols[0].slider("Passages to sample", 50, most, min(1000, most), key="map_n")
else:  # too few for a slider (its range would be empty): show them all
    sample_n = most
methods = ["PCA"]
try:
    import umap  # noqa: F401

    methods.insert(0, "UMAP")
except ImportError:
    pass
method = mcols[1].radio(
    "Projection",
    methods,
    horizontal=True,
    key="map_method",
    help="UMAP appears when the umap-learn package is installed.",
)
colour_by = mcols[2].radio(
    "Colour by",
    ["topic", "language"],
    horizontal=True,
    key="map_colour",
    help="Topic: k-means clusters of the passage vectors, named by their top terms.",
)
topics = int(mcols[3].number_input("Topics", 2, 20, 8, key="map_topics"))
frame, used = cached_map(store, collection, total, sample_n, method.lower(), topics)
if frame.empty:
    st.info("No vectors to show.")
else:
    frame = frame.assign(group=explore.legend_groups(frame["topic" if colour_by == "topic" else "lang"]))
    if colour_by == "language":
        frame["group"] = frame["group"].map(lambda c: c if c == "other" else ui.lang_label(c))
    pick = alt.selection_point(fields=["doc_id"], name="pick")
    scatter = (
        alt.Chart(frame)
        .mark_circle(size=50, opacity=0.8)
        .encode(
            x=alt.X("x:Q", axis=None),
            y=alt.Y("y:Q", axis=None),
            # Ten strong, distinct colours; the smallest groups share "other" (grey).
            color=alt.Color(
                "group:N",
                title=colour_by,
                scale=alt.Scale(scheme="tableau10"),
                legend=alt.Legend(orient="bottom", columns=2, labelLimit=400),
            ),
            tooltip=[
                alt.Tooltip("lang:N", title="language"),
                alt.Tooltip("title:N"),
                alt.Tooltip("topic:N"),
                alt.Tooltip("snippet:N", title="text"),
            ],
        )
        .add_params(pick)
        .properties(height=520)
    )
    event = st.altair_chart(scatter, width="stretch", on_select="rerun", selection_mode="pick", key="map")
    chosen = (event.selection.get("pick") or []) if event else []
    if chosen and chosen[0].get("doc_id"):
        # The document view lives on the Search page; the search state there is kept.
        st.switch_page(
            "ui_pages/search.py", query_params={**st.query_params.to_dict(), "doc": chosen[0]["doc_id"]}
        )
    identity = store.identity(collection)
    dims = f"{identity.dim}-d " if identity else ""
    st.caption(
        f"{len(frame)} passages · {used.upper()} projection of the model's {dims}vectors · "
        f"{frame['topic'].nunique()} topics (k-means)"
    )

st.subheader("Translation finder")
st.caption(
    "For two languages, the closest cross-lingual passage pairs — likely translations — scored "
    "with the ratio margin over each side's 4 nearest neighbours (as LASER/LaBSE bitext mining). "
    "Margin > 1 means the pair is closer than either passage is to its neighbourhood. The default "
    f"{explore.DEFAULT_MIN_MARGIN:.2f} kept 92% precision on Tatoeba German–Japanese (1.00: 83%)."
)
langs = list(stats.by_lang["lang"])
if len(langs) < 2:
    st.info("The translation finder needs passages in at least two languages.")
    st.stop()
tcols = st.columns(4)
lang_a = tcols[0].selectbox("Language A", langs, index=0, format_func=ui.lang_label, key="tf_a")
lang_b = tcols[1].selectbox(
    "Language B", [c for c in langs if c != lang_a], index=0, format_func=ui.lang_label, key="tf_b"
)
sample = tcols[2].number_input(
    "Passages per language",
    10,
    5000,
    500,
    step=50,
    key="tf_sample",
    help="Sampled from each language; the cost grows with A × B.",
)
min_margin = tcols[3].number_input(
    "Minimum margin", 0.0, 3.0, explore.DEFAULT_MIN_MARGIN, step=0.01, key="tf_min", format="%.2f"
)
pairs = cached_pairs(store, collection, total, lang_a, lang_b, int(sample), 4, 100, float(min_margin))
if pairs.empty:
    st.info("No pair passed the margin threshold; lower it or sample more passages.")
else:
    st.dataframe(
        pairs.drop(columns=[c for c in pairs.columns if c.startswith("id_")]),
        hide_index=True,
        width="stretch",
        column_config={
            "margin": st.column_config.NumberColumn(format="%.3f"),
            "cosine": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    # Document text is untrusted: to_csv_bytes neutralises formulas (and writes a BOM for Excel).
    st.download_button(
        "Export pairs (CSV)",
        to_csv_bytes(pairs),
        export_filename(f"translations-{lang_a}-{lang_b}", f"margin {min_margin:.2f}", "csv"),
        "text/csv",
    )
