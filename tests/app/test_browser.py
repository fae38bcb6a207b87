"""End to end in a real browser: `rosetta ui` on localhost, headless Chromium types a query and sees
ranked hits; the screenshot is kept under test-artifacts/."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a locked-down CI box: no sandbox (root in a container), no GPU, nothing phoning home.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ui_url(corpus_dir: Path, models_dir: Path) -> Iterator[str]:
    """`rosetta ui` serving the test corpus on a free local port (stopped after the module)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not installed ({CHROMIUM}); install it with `make browser` "
                    "(apt-get install chromium) to run the browser test")
    pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e .[dev])")
    port = _free_port()
    env = {**os.environ, "ROSETTA_DATA_DIR": str(corpus_dir), "ROSETTA_CACHE_DIR": str(models_dir),
           "ROSETTA_COLLECTION": "test_docs"}
    log = (corpus_dir / "ui.log").open("w")
    # `-m rosetta.cli` would import the CLI twice (as __main__ and via plugins); call main() instead.
    command = [sys.executable, "-c", "from rosetta.cli import main; main()",
               "ui", "--port", str(port), "--host", "127.0.0.1"]
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
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000})
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
