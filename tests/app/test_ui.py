"""AppTest runs of each page of the web app against temp data dirs (no browser)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
COLLECTION = "test_docs"
TIMEOUT = 90  # the first run loads the model


@pytest.fixture(autouse=True)
def _release_cached_store() -> Iterator[None]:
    # The cached store holds the embedded store's lock; release it so fixtures can reopen the dir.
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def make_app(monkeypatch: pytest.MonkeyPatch, data_dir: Path, models_dir: Path, **env: str) -> AppTest:
    monkeypatch.setenv("ROSETTA_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ROSETTA_CACHE_DIR", str(models_dir))
    monkeypatch.setenv("ROSETTA_COLLECTION", COLLECTION)
    for key, value in env.items():
        monkeypatch.setenv(f"ROSETTA_{key.upper()}", value)
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def texts(at: AppTest) -> str:
    """Everything a reader sees: markdown, captions, alerts and raw HTML cards."""
    parts = [e.value for e in (*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success)]
    parts += [str(h.proto.body) for h in at.get("html")]
    return "\n".join(str(p) for p in parts)


def result_cards(at: AppTest) -> list[str]:
    """The HTML of each result card, in rank order."""
    return [str(h.proto.body) for h in at.get("html")
            if str(h.proto.body).startswith('<div class="rosetta-card"')]


def test_search_page_ranks_cross_lingual_hits(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = make_app(monkeypatch, corpus_dir, models_dir).run()
    assert not at.exception
    assert "Type a query" in texts(at)
    at.text_input(key="q").set_value("Wie wandeln Pflanzen Sonnenlicht in Energie um?").run()
    assert not at.exception, at.exception
    page = texts(at)
    assert "German (de)" in page
    cards = result_cards(at)
    assert cards and "Photosynthesis" in cards[0] and "#1" in cards[0]
    assert "2 more passages" in cards[0]
    assert len(at.get("download_button")) == 2


def test_search_filters_and_escaping(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = make_app(monkeypatch, corpus_dir, models_dir).run()
    at.multiselect(key="lang").set_value(["fr"])
    at.text_input(key="q").set_value("volcano eruption").run()
    cards = result_cards(at)
    assert cards and all(">fr<" in c for c in cards)
    at.multiselect(key="lang").set_value([])
    at.text_input(key="q").set_value("cross-site scripting attack").run()
    cards = result_cards(at)
    assert "&lt;script&gt;" in cards[0] and "<script" not in "".join(cards)
    assert "&lt;b&gt;XSS&lt;/b&gt;" in cards[0]


def test_search_no_hits_is_friendly(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = make_app(monkeypatch, corpus_dir, models_dir).run()
    at.text_input(key="src").set_value("no/such/folder/")
    at.text_input(key="q").set_value("volcano").run()
    assert not at.exception
    assert any("No passages matched" in i.value and "source prefix" in i.value for i in at.info)


def test_more_like_this(monkeypatch, corpus_dir, models_dir, encoder) -> None:
    at = make_app(monkeypatch, corpus_dir, models_dir).run()
    at.multiselect(key="lang").set_value(["en"])
    at.text_input(key="q").set_value("volcano magma lava").run()
    mlt = [b for b in at.button if b.label == "More like this"]
    mlt[0].click().run()
    assert not at.exception
    assert any("More like" in s.value for s in at.subheader)
    cards = result_cards(at)
    assert cards and "Les volcans" in cards[0]


def test_empty_collection_and_explore(monkeypatch, tmp_path, models_dir) -> None:
    at = make_app(monkeypatch, tmp_path, models_dir).run()
    assert not at.exception
    assert any("is empty" in i.value for i in at.info)
    at.switch_page("ui_pages/explore.py").run()
    assert any("is empty" in i.value for i in at.info)


def test_explore_page(monkeypatch, corpus_dir, models_dir) -> None:
    at = make_app(monkeypatch, corpus_dir, models_dir).run()
    at.switch_page("ui_pages/explore.py").run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric][:2] == ["9", "11"]
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    at.selectbox(key="tf_a").set_value("en")
    at.selectbox(key="tf_b").set_value("fr")
    at.number_input(key="tf_min").set_value(0.0).run()
    frame = at.dataframe[-1].value
    assert "volcan" in frame.iloc[0]["text_fr"]


def test_ingest_reports_bad_file(monkeypatch, tmp_path, models_dir, encoder) -> None:
    at = make_app(monkeypatch, tmp_path, models_dir, upload_max_mb="1").run()
    at.switch_page("ui_pages/ingest.py").run()
    assert not at.exception, at.exception
    assert any("Reading server folders is off" in c.value for c in at.caption)
    at.file_uploader[0].set_value([
        ("good.md", b"# Tomaten\n\nTomaten brauchen viel Sonne und Wasser.", "text/markdown"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "application/pdf"),
        ("evil.exe", b"MZ\x90\x00", "application/octet-stream"),
        ("huge.txt", b"a " * (600 * 1024), "text/plain"),
    ])
    at.button[0].click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    report = at.dataframe[0].value.set_index("file")
    assert report.loc["good.md", "status"] == "indexed or unchanged"
    assert report.loc["broken.pdf", "status"] == "failed"
    assert "type not allowed" in report.loc["evil.exe", "reason"]
    assert "too large" in report.loc["huge.txt", "reason"]
    assert [m.value for m in at.metric][:1] == ["1"]
    # The new document is searchable right away (same process, same cached store).
    at.switch_page("ui_pages/search.py").run()
    at.text_input(key="q").set_value("pomodori sole").run()
    cards = result_cards(at)
    assert cards and "Tomaten" in cards[0]


def test_ingest_server_folder_when_allowed(monkeypatch, tmp_path, models_dir, encoder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Le chat dort sur le canapé toute la journée.")
    at = make_app(monkeypatch, tmp_path / "data", models_dir, allow_server_paths="true").run()
    at.switch_page("ui_pages/ingest.py").run()
    at.text_input(key="server_path").set_value(str(docs)).run()
    next(b for b in at.button if b.label == "Index folder").click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert [m.value for m in at.metric][:1] == ["1"]
