"""Server mode without a Qdrant server: unreachable servers, rejected keys and transient errors must
end in one clear message (no stack trace), after retries with backoff where a retry can help.

A closed localhost port stands in for a server that is down; a tiny HTTP server stands in for one
that answers with an error status. Nothing here needs the model.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rosetta.store import QdrantStore, StoreUnavailableError

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.filterwarnings(
    # qdrant-client checks the server version in a background thread and warns when it cannot.
    "ignore:Failed to obtain server version:UserWarning"
)


def closed_port() -> int:
    """A localhost port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def http_server(status: int, headers: dict[str, str] | None = None) -> Iterator[tuple[str, list[str]]]:
    """A server answering every request with `status` and a Qdrant-like error body."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(f"{self.command} {self.path}")
            body = b'{"status":{"error":"simulated"},"time":0.0}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def assert_user_message(message: str) -> None:
    assert "\n" not in message, f"the message should be one line:\n{message}"
    assert "Traceback" not in message


@pytest.fixture
def no_sleep(monkeypatch) -> list[float]:
    """Record the backoff delays instead of sleeping through them."""
    delays: list[float] = []
    monkeypatch.setattr("rosetta.store.qdrant.time.sleep", delays.append)
    return delays


# ---- the store -----------------------------------------------------------------------------------
def test_unreachable_server_gives_a_clear_message() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        QdrantStore.server(url, retries=0, timeout=5)
    assert time.monotonic() - start < 5, "a refused connection must fail fast"
    message = str(info.value)
    assert "cannot reach Qdrant" in message and url in message
    assert "ROSETTA_QDRANT_URL" in message, "tell the user which setting to check"
    assert_user_message(message)
    assert info.value.__suppress_context__, "raised `from None`: no chained stack trace"


def test_unreachable_server_is_retried_with_exponential_backoff(no_sleep: list[float]) -> None:
    with pytest.raises(StoreUnavailableError, match="cannot reach Qdrant"):
        QdrantStore.server(f"http://127.0.0.1:{closed_port()}", retries=3)
    assert len(no_sleep) == 3, "one sleep per retry"
    assert all(b == 2 * a for a, b in itertools.pairwise(no_sleep)), no_sleep
    assert no_sleep[0] > 0


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_api_key_gives_a_clear_message(status: int, no_sleep: list[float]) -> None:
    with http_server(status) as (url, _), pytest.raises(StoreUnavailableError) as info:
        QdrantStore.server(url, api_key="wrong-key", retries=3)
    message = str(info.value)
    assert "rejected the API key" in message and "ROSETTA_QDRANT_API_KEY" in message
    assert_user_message(message)
    assert no_sleep == [], "a wrong key is not transient: no retries"


def test_unavailable_server_is_retried_then_reported(no_sleep: list[float]) -> None:
    with http_server(503) as (url, seen), pytest.raises(StoreUnavailableError, match="cannot reach Qdrant"):
        QdrantStore.server(url, retries=2)
    assert len(no_sleep) == 2
    assert sum("/collections" in s for s in seen) == 3, seen  # first try + 2 retries


def test_rate_limited_server_is_retried_after_what_it_asks(no_sleep: list[float]) -> None:
    with (
        http_server(429, {"Retry-After": "3"}) as (url, seen),
        pytest.raises(StoreUnavailableError, match="rate limiting") as info,
    ):
        QdrantStore.server(url, retries=2)
    assert_user_message(str(info.value))
    assert no_sleep == [3.0, 3.0], "Retry-After, not the exponential backoff"
    assert sum("/collections" in s for s in seen) == 3, seen


def test_unavailable_server_message_is_one_line(no_sleep: list[float]) -> None:
    with http_server(503) as (url, _), pytest.raises(StoreUnavailableError) as info:
        QdrantStore.server(url, retries=0)
    assert_user_message(str(info.value))


def test_unreachable_server_over_grpc_gives_a_clear_message() -> None:
    # With prefer_grpc the client dials the gRPC port (6334 by default), whatever the URL's port.
    if port_open(6334):
        pytest.skip("something listens on localhost:6334; cannot simulate an unreachable gRPC server")
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(StoreUnavailableError, match="cannot reach Qdrant"):
        QdrantStore.server(url, prefer_grpc=True, retries=0, timeout=5)


def test_unreachable_server_over_grpc_message_is_one_line() -> None:
    if port_open(6334):
        pytest.skip("something listens on localhost:6334")
    with pytest.raises(StoreUnavailableError) as info:
        QdrantStore.server(f"http://127.0.0.1:{closed_port()}", prefer_grpc=True, retries=0, timeout=5)
    assert_user_message(str(info.value))


# ---- from the environment, as a user runs it --------------------------------------------------------
def user_env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSETTA_")}
    env.update(
        ROSETTA_QDRANT_URL=url,
        ROSETTA_DATA_DIR=str(tmp_path / "data"),
        COLUMNS="500",
        NO_COLOR="1",
        PYTHONPATH=str(REPO),
    )
    return env


@pytest.mark.slow
def test_settings_from_env_reach_the_server_store(tmp_path: Path) -> None:
    """ROSETTA_QDRANT_URL selects the server store, and its failure is a one-line StoreError."""
    url = f"http://127.0.0.1:{closed_port()}"
    script = (
        "import sys\n"
        "from rosetta.settings import Settings\n"
        "from rosetta.store import StoreError, open_store\n"
        "try:\n"
        "    open_store(Settings())\n"
        "except StoreError as exc:\n"
        "    print(f'error: {exc}', file=sys.stderr)\n"
        "    sys.exit(2)\n"
    )
    # cwd=tmp_path: no stray .env is read.
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=user_env(tmp_path, url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach Qdrant" in errors[0] and url in errors[0], result.stderr


# What the `rosetta` console script runs (`python -m rosetta.cli` would import the module twice).
ROSETTA = [sys.executable, "-c", "from rosetta.cli import main; main()"]


@pytest.fixture(scope="module")
def stats_against_closed_port(tmp_path_factory) -> tuple[str, subprocess.CompletedProcess[str]]:
    """`rosetta stats` as a user runs it, with ROSETTA_QDRANT_URL on a closed port (run once)."""
    tmp_path = tmp_path_factory.mktemp("cli")
    url = f"http://127.0.0.1:{closed_port()}"
    env = user_env(tmp_path, url)
    help_text = subprocess.run(
        [*ROSETTA, "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    ).stdout
    if " stats " not in help_text:
        pytest.skip("`rosetta stats` does not exist yet; the store-level tests above cover the message")
    result = subprocess.run(
        [*ROSETTA, "stats"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    return url, result


@pytest.mark.slow
def test_cli_reports_an_unreachable_server_without_traceback(stats_against_closed_port) -> None:
    url, result = stats_against_closed_port
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if "cannot reach Qdrant" in line]
    assert len(errors) == 1 and url in errors[0], output
    assert errors[0].startswith("error:"), output


@pytest.mark.slow
def test_cli_prints_only_the_error_and_retry_notices(stats_against_closed_port) -> None:
    _, result = stats_against_closed_port
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    noise = [line for line in lines if not line.startswith("error:") and "retry" not in line]
    assert not noise, result.stderr
