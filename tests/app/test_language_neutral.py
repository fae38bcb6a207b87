"""Language-neutral ranking on a tiny multilingual corpus, indexed by the real pipeline.

The corpus: an article on the phases of the moon in five languages (none in Japanese) and six
unrelated Japanese articles, from the sample corpus. The plain model ranks the Japanese
articles on sleep, earthquakes or cherry blossoms above every moon article for the Japanese
query 月の満ち欠け ("phases of the moon"); with the language vectors removed it does not.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.search import Searcher, SearchRequest, arrange
from indexer.pipeline import Index, model_language_vectors
from rosetta.store import ModelMismatchError, QdrantStore

SAMPLE = Path(__file__).resolve().parents[2] / "app" / "sample_corpus"
MOON = [
    "en/phases-of-the-moon.md",
    "de/mondphasen.md",
    "es/fases-de-la-luna.md",
    "fr/phases-de-la-lune.md",
    "tr/ayin-evreleri.md",
]
OTHER_JA = [
    "ja/suimin-no-taisetsusa.md",
    "ja/jishin-no-sonae.md",
    "ja/sakura-ohanami.md",
    "ja/haiku-no-miryoku.md",
    "ja/matcha-to-sado.md",
    "ja/fujisan-kazan.md",
]
QUERY = "月の満ち欠け"


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for rel in MOON + OTHER_JA:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE / rel, root / rel)
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, encoder, docs: Path) -> Iterator[QdrantStore]:
    with QdrantStore.embedded(tmp_path_factory.mktemp("data") / "qdrant") as store:
        vectors = model_language_vectors(encoder)
        assert vectors is not None, "the default model ships language vectors"
        Index(store, encoder, "plain").add([docs])
        Index(store, encoder, "neutral", language_vectors=vectors).add([docs])
        yield store


def is_moon(doc_id: str) -> bool:
    return any(doc_id.endswith(Path(m).name) for m in MOON)


def test_plain_ranks_unrelated_japanese_first_neutral_ranks_the_moon(encoder, store: QdrantStore) -> None:
    plain = Searcher(encoder, store, "plain").search(SearchRequest(QUERY, limit=5))
    assert not plain.language_neutral
    assert plain.hits[0].passage.lang == "ja" and not is_moon(plain.hits[0].passage.doc_id)

    neutral = Searcher(encoder, store, "neutral").search(SearchRequest(QUERY, limit=5))
    assert neutral.language_neutral
    top = [h.passage.doc_id for h in neutral.hits]
    assert is_moon(top[0]), top
    assert sum(map(is_moon, top)) >= 4, top


def test_collection_identity_records_the_shift(encoder, store: QdrantStore) -> None:
    vectors = model_language_vectors(encoder)
    assert store.identity("plain").language_shift == ""
    assert store.identity("neutral").language_shift == vectors.tag
    # An existing collection keeps its own treatment, whatever a new Index is given.
    again = Index(store, encoder, "plain", language_vectors=vectors)
    again.ensure()
    assert again.language_vectors is None and again.identity.language_shift == ""
    # Vectors made with other language vectors are never mixed in.
    other = dataclasses.replace(vectors, passage=vectors.passage * 0.5)
    with pytest.raises(ModelMismatchError, match="language"):
        store.ensure_collection("neutral", dataclasses.replace(encoder.identity, language_shift=other.tag))
    # A collection shifted with vectors this install does not have cannot be searched or extended.
    store.ensure_collection("stale", dataclasses.replace(encoder.identity, language_shift=other.tag))
    with pytest.raises(ModelMismatchError, match="--recreate"):
        Searcher(encoder, store, "stale").search(SearchRequest(QUERY))
    with pytest.raises(ModelMismatchError, match="--recreate"):
        Index(store, encoder, "stale").ensure()


def test_ranking_modes(encoder, store: QdrantStore) -> None:
    searcher = Searcher(encoder, store, "neutral")
    per_lang = searcher.search(SearchRequest(QUERY, limit=10, ranking="per-language"))
    langs = [h.passage.lang for h in per_lang.hits]
    assert len(langs) == len(set(langs)) == 6  # en de es fr tr ja: one each
    assert [h.rank for h in per_lang.hits] == list(range(1, 7))
    neutral = searcher.search(SearchRequest(QUERY, limit=11))
    prefer = searcher.search(SearchRequest(QUERY, limit=11, ranking="prefer-language"))
    ja_ranks = lambda r: [h.rank for h in r.hits if h.passage.lang == "ja"]  # noqa: E731
    assert sum(ja_ranks(prefer)) <= sum(ja_ranks(neutral))  # Japanese never pushed down...
    assert is_moon(prefer.hits[0].passage.doc_id)  # ...but not above the clearly best match
    # The keyword leg of hybrid search is untouched: the query's words still match its own text.
    hybrid = searcher.search(SearchRequest("満ち欠け", limit=5, hybrid=True))
    assert hybrid.hits and hybrid.language_neutral


def test_arrange_per_language_keeps_each_languages_best(encoder, store: QdrantStore) -> None:
    from app.search import Passage

    scores = [1.0, 0.9, 0.8, 0.75, 0.6]
    ps = [
        Passage(str(i), score, "t", lang, f"d{i}", "s", "t", 0)
        for i, (score, lang) in enumerate(zip(scores, ["de", "de", "fr", "ja", "fr"], strict=True))
    ]
    assert [h.passage.id for h in arrange(ps, "per-language", "ja")] == ["0", "2", "3"]
    # Top quarter 1.0, median 0.8: Japanese gets +0.1 (0.75 → 0.85): past French, not past German.
    assert [h.passage.id for h in arrange(ps, "prefer-language", "ja")] == ["0", "1", "3", "2", "4"]


def test_cli_rejects_an_unknown_ranking() -> None:
    from typer.testing import CliRunner

    from rosetta.cli import app

    result = CliRunner().invoke(app, ["search", QUERY, "--ranking", "loudest"])
    assert result.exit_code == 2
    assert "neutral, prefer-language, per-language" in result.output
