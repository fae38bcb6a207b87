"""How the pipeline feeds the encoder: the reader's read-ahead bound, an early first group, and
batches in token order (least padding) for encoders whose vectors do not depend on their batch."""

from __future__ import annotations

import queue
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from indexer.pipeline import _DONE, GIL_SWITCH_S, Index, _EncoderThreads, _ReadAhead


def test_read_ahead_is_bounded_by_chunks_not_files() -> None:
    ahead = _ReadAhead(limit=10)
    stop = threading.Event()
    assert ahead.put("a", 6, stop)
    # A second file that would pass the bound waits until the first is taken.
    waiting = threading.Thread(target=ahead.put, args=("b", 6, stop))
    waiting.start()
    time.sleep(0.3)
    assert waiting.is_alive() and ahead.chunks == 6
    assert ahead.get(timeout=1) == "a"
    waiting.join(timeout=2)
    assert not waiting.is_alive() and ahead.get(timeout=1) == "b"
    # Many small files fill up to the bound (a bound in files would stop at a count of files)...
    for i in range(10):
        assert ahead.put(i, 1, stop)
    assert ahead.chunks == 10
    assert [ahead.get(timeout=1) for _ in range(10)] == list(range(10))
    # ...and one file larger than the bound still passes, alone.
    assert ahead.put("big", 50, stop)
    assert ahead.get(timeout=1) == "big"
    with pytest.raises(queue.Empty):
        ahead.get(timeout=0.05)


def test_read_ahead_says_when_the_reader_is_working() -> None:
    ahead = _ReadAhead(limit=1)
    stop = threading.Event()
    assert ahead.reader_working
    ahead.put("a", 1, stop)
    waiting = threading.Thread(target=ahead.put, args=("b", 1, stop))
    waiting.start()
    time.sleep(0.3)
    assert not ahead.reader_working  # blocked for room: not using a core
    ahead.get(timeout=1)
    waiting.join(timeout=2)
    assert ahead.reader_working
    ahead.get(timeout=1)
    ahead.put(_DONE, 0, stop)
    assert not ahead.reader_working


def test_torch_bf16_encoder_gives_a_core_to_a_working_reader(encoder) -> None:
    from rosetta.models import Encoder

    full = torch.get_num_threads()
    assert not _EncoderThreads(encoder).torch  # fp32 keeps its threads (measured: adapting cost it)
    bf16 = Encoder(encoder.model, encoder.identity, precision="bf16")
    threads = _EncoderThreads(bf16)
    try:
        threads.fit(reader_working=True)
        assert torch.get_num_threads() == 1
        threads.fit(reader_working=False)
        assert torch.get_num_threads() == full
        threads.fit(reader_working=True)
    finally:
        threads.restore()
    assert torch.get_num_threads() == full


def test_a_stopped_run_releases_a_waiting_reader() -> None:
    ahead = _ReadAhead(limit=1)
    stop = threading.Event()
    ahead.put("a", 1, stop)
    result: list[bool] = []
    waiting = threading.Thread(target=lambda: result.append(ahead.put("b", 1, stop)))
    waiting.start()
    stop.set()
    waiting.join(timeout=2)
    assert result == [False]


def test_first_group_is_small_and_batches_go_by_tokens(
    store, collection, encoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    # Short in characters but long in tokens (Japanese), and the reverse (plain English): sorting by
    # characters would put the English first.
    ja = "東京都立図書館の開館時間は平日午前九時から午後八時までです。"
    for i in range(24):
        (docs / f"ja{i:02d}.txt").write_text(ja * (1 + i % 3))
        en = f"The library opens at nine and closes at eight, file {i}. "
        (docs / f"en{i:02d}.txt").write_text(en * (1 + i % 2))
    batches: list[list[str]] = []
    threads: list[int] = []
    real = encoder.encode_documents

    def recording(texts, *args, **kwargs):  # the real encoder, its calls recorded
        batches.append(list(texts))
        threads.append(torch.get_num_threads())
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(encoder, "encode_documents", recording)
    events, switch = [], []

    def progress(event) -> None:
        events.append(event)
        switch.append(sys.getswitchinterval())

    before, full = sys.getswitchinterval(), torch.get_num_threads()
    index = Index(store, encoder, collection, batch_size=4)
    assert encoder.batch_invariant and index.group_size == 32
    report = index.add([str(docs)], progress=progress)
    assert report.chunks_added == 48
    # The encoder gets the GIL back sooner while the reader runs Python; afterwards, as it was.
    assert min(switch) == GIL_SWITCH_S < before == sys.getswitchinterval()
    # One torch thread while the reader works, all of them otherwise; as it was afterwards.
    assert set(threads) <= {1, full} and torch.get_num_threads() == full

    # The encoder started once 2 batches were read, not a whole group of 8.
    first = next(e for e in events if e.chunks_done > 0)
    assert first.chunks_queued == 8
    # The first full group (calls 3-10) runs longest first by tokens, across its batches.
    group = [t for batch in batches[2:10] for t in batch]
    tokens = [encoder.count_tokens(t) for t in group]
    assert tokens == sorted(tokens, reverse=True)
    assert [len(t) for t in group] != sorted((len(t) for t in group), reverse=True)
