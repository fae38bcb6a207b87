"""End to end in a real browser: `rosetta ui` on localhost, headless Chromium walks an analyst's path
(search in three scripts → filter → page 2 → Explore → back → reload → More like this → new query →
document view → export all → ingest a CSV with a chosen text column). A screenshot of every step
is kept under test-artifacts/."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a locked-down CI box: no sandbox (root in a container), no GPU, nothing phoning home.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ui_url(corpus_dir: Path, models_dir: Path) -> Iterator[str]:
    """`rosetta ui` serving the test corpus on a free local port (stopped after the module)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"Chromium not installed ({CHROMIUM}); install it with `make browser` "
            "(apt-get install chromium) to run the browser test"
        )
    pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e .[dev])")
    port = _free_port()
    env = {
        **os.environ,
        "ROSETTA_DATA_DIR": str(corpus_dir),
        "ROSETTA_CACHE_DIR": str(models_dir),
        "ROSETTA_COLLECTION": "test_docs",
    }
    log = (corpus_dir / "ui.log").open("w")
    # `-m rosetta.cli` would import the CLI twice (as __main__ and via plugins); call main() instead.
    command = [
        sys.executable,
        "-c",
        "from rosetta.cli import main; main()",
        "ui",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"rosetta ui did not start:\n{(corpus_dir / 'ui.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_query_in_browser_shows_ranked_hits(ui_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = browser.new_page()
            page.goto(ui_url)
            box = page.get_by_placeholder("Type a question", exact=False)
            box.wait_for(timeout=60_000)
            box.fill("Wie wandeln Pflanzen Sonnenlicht in Energie um?")
            box.press("Enter")
            cards = page.locator(".rosetta-card")
            cards.first.wait_for(timeout=120_000)  # the first query loads the model
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / "browser-search.png"), full_page=True)
            assert cards.count() >= 3
            first = cards.first.inner_text()
            assert "#1" in first and "Photosynthesis" in first
            ranks = [cards.nth(i).locator(".rosetta-rank").inner_text() for i in range(cards.count())]
            assert ranks == [f"#{i + 1}" for i in range(len(ranks))]
            assert page.get_by_text("German (de)").count() >= 1
            # The document's <script> is shown as text, never run or parsed as markup.
            box.fill("cross-site scripting attack")
            box.press("Enter")
            page.get_by_text("<script>alert('xss')</script>", exact=False).first.wait_for(timeout=30_000)
            assert page.locator(".rosetta-card script").count() == 0
        finally:
            browser.close()


def _settled(page) -> None:
    """Wait until Streamlit has finished the rerun the last action started."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stApp"][data-test-script-state="running"]').wait_for(
        state="detached", timeout=120_000
    )
    page.wait_for_timeout(200)


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"path-{name}.png"), full_page=True)


def _params(page) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)


def _query(page, text: str) -> None:
    box = page.get_by_placeholder("Type a question", exact=False)
    box.fill(text)
    box.press("Enter")
    _settled(page)


def test_analyst_path(ui_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    table = tmp_path / "notes.csv"
    table.write_text(
        "ref,headline,remark,category\n"
        "n1,Sourdough,Sourdough bread needs a lively starter and a long cold proof.,kitchen\n"
        "n2,Empty,,kitchen\n",
        encoding="utf-8",
    )
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
            accept_downloads=True,
        )
        try:
            page = browser.new_page()
            page.goto(ui_url)
            box = page.get_by_placeholder("Type a question", exact=False)
            box.wait_for(timeout=60_000)
            cards = page.locator(".rosetta-card")
            # 1. Three scripts: Latin, Han, Cyrillic; each finds its document, highlighted where it can.
            for name, query, title in (
                ("1-latin", "Wie wandeln Pflanzen Sonnenlicht in Energie um?", "Photosynthesis"),
                ("2-han", "茶的历史和发酵", "茶的历史"),
                ("3-cyrillic", "Юрий Гагарин полёт в космос", "Космос"),
            ):
                _query(page, query)
                expect(cards.first).to_contain_text(title, timeout=60_000)
                _shot(page, name)
            assert page.locator(".rosetta-card mark").count() >= 1
            assert _params(page)["q"] == ["Юрий Гагарин полёт в космос"]  # the URL follows the search
            # 2. A language filter from the sidebar.
            _query(page, "volcano eruption")
            languages = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Languages").first
            languages.locator("input").click()
            page.get_by_role("option", name="fr", exact=True).click()
            page.keyboard.press("Escape")
            _settled(page)
            expect(cards.first).to_contain_text("Les volcans")
            assert all(b.inner_text().strip().lower() == "fr" for b in page.locator(".rosetta-badge").all())
            assert _params(page)["lang"] == ["fr"]
            _shot(page, "4-filter")
            # 3. Page 2 of a broader query (3 per page, no filter).
            page.goto(f"{ui_url}/?q=science+and+nature&k=3&cut=false")
            _settled(page)
            page.get_by_role("button", name="Next →").click()
            _settled(page)
            expect(page.locator(".rosetta-rank").first).to_have_text("#4")
            assert _params(page).get("p") == ["2"]
            _shot(page, "5-page-2")
            # 4. Explore and back: the search is still there, and the URL reproduces it.
            page.get_by_role("link", name="Explore").click()
            page.get_by_text("Map of the corpus").wait_for(timeout=60_000)
            _settled(page)
            _shot(page, "6-explore")
            # The map, coloured by topic with each cluster's top terms in the legend.
            page.locator('[data-testid="stVegaLiteChart"]').last.scroll_into_view_if_needed()
            page.locator(".vega-embed canvas, .vega-embed svg").last.wait_for(timeout=60_000)
            page.wait_for_timeout(800)
            page.screenshot(path=str(ARTIFACTS / "path-6b-explore-map.png"))
            page.get_by_role("link", name="Search").click()
            _settled(page)
            expect(box).to_have_value("science and nature")
            assert _params(page)["q"] == ["science and nature"]
            page.reload()
            _settled(page)
            expect(box).to_have_value("science and nature")
            expect(cards.first).to_be_visible()
            _shot(page, "7-back-and-reload")
            # 5. More like this, then a new query leaves it.
            _query(page, "volcano magma lava")
            page.get_by_role("button", name="More like this").first.click()
            _settled(page)
            expect(page.get_by_text("More like", exact=False).first).to_be_visible()
            _shot(page, "8-more-like-this")
            _query(page, "Bundesliga Meister")
            expect(page.get_by_text("More like “", exact=False)).to_have_count(0)
            expect(cards.first).to_contain_text("Fußball")
            _shot(page, "9-new-query")
            # 6. The document view.
            _query(page, "chlorophyll absorbs light")
            page.get_by_role("button", name="Open document").first.click()
            _settled(page)
            expect(page.locator(".rosetta-passage")).to_have_count(3)
            assert page.locator(".rosetta-passage.hit").count() >= 1
            _shot(page, "10-document")
            page.get_by_role("button", name="← Back to results").click()
            _settled(page)
            # 7. Export every result, as a named UTF-8 file with its query.
            with page.expect_download() as download:
                page.get_by_role("button", name="Export CSV").click()
            saved = ARTIFACTS / download.value.suggested_filename
            download.value.save_as(saved)
            assert saved.name.startswith("rosetta-search-chlorophyll-absorbs-light-")
            data = saved.read_bytes()
            assert data.startswith(b"\xef\xbb\xbf") and b"chlorophyll absorbs light" in data
            # 8. Ingest a CSV whose text column has to be chosen.
            page.get_by_role("link", name="Ingest").click()
            page.locator('input[type="file"]').first.set_input_files(str(table))
            _settled(page)
            expect(page.get_by_text("choose the text column", exact=False)).to_be_visible()
            picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Text column").first
            picker.click()
            page.get_by_role("option", name="remark", exact=True).click()
            _settled(page)
            page.get_by_role("button", name="Index 1 file").click()
            _settled(page)
            expect(page.get_by_text("row without text", exact=False)).to_be_visible(timeout=120_000)
            _shot(page, "11-ingest-csv")
            page.get_by_role("link", name="Search").click()
            _settled(page)
            _query(page, "sourdough starter")
            expect(cards.first).to_contain_text("Sourdough")
            _shot(page, "12-search-new-rows")
        finally:
            browser.close()
