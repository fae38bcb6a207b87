"""App-test fixtures: a small multilingual corpus written for the tests, indexed into a temp store.

The points carry the indexer's payload (doc_id, source, title, lang, doc_lang, chunk_index,
char offsets, page, text, ingested_at, metadata columns), upserted straight into the store so
the search tests do not depend on the ingestion pipeline.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from indexer.sparse import sparse_vectors
from rosetta.store import Point, VectorStore, collection_options, open_embedded

# (doc_id, lang, source, title, [chunks], metadata)
DOCS: list[tuple[str, str, str, str, list[str], dict[str, str]]] = [
    (
        "en-photo",
        "en",
        "science/biology/photosynthesis.md",
        "Photosynthesis",
        [
            "Photosynthesis is the process by which green plants use sunlight to turn water and "
            "carbon dioxide into glucose and oxygen.",
            "The light-dependent reactions of photosynthesis take place in the thylakoid membranes "
            "of the chloroplast, where chlorophyll absorbs light energy.",
            "Plants store the energy captured by photosynthesis as sugar and starch in their leaves.",
        ],
        {"topic": "biology"},
    ),
    (
        "en-rail",
        "en",
        "history/railways.md",
        "The first railways",
        [
            "The first public steam railway opened in England in 1825 and carried coal and passengers.",
        ],
        {"topic": "history"},
    ),
    (
        "en-volcano",
        "en",
        "science/geology/volcano-en.md",
        "Volcanoes",
        [
            "A volcano erupts when molten rock, called magma, rises from deep inside the Earth and "
            "escapes through the crust as lava, ash and gas.",
        ],
        {"topic": "geology"},
    ),
    (
        "fr-volcano",
        "fr",
        "science/geology/volcan-fr.md",
        "Les volcans",
        [
            "Un volcan entre en éruption lorsque la roche en fusion, appelée magma, remonte des "
            "profondeurs de la Terre et s'échappe par la croûte sous forme de lave, de cendres et de gaz.",
        ],
        {"topic": "geology"},
    ),
    (
        "de-football",
        "de",
        "sport/fussball.md",
        "Fußball in Deutschland",
        [
            "Die Fußball-Bundesliga ist die höchste Spielklasse im deutschen Vereinsfußball; "
            "Bayern München hat die meisten Meistertitel gewonnen.",
        ],
        {"topic": "sport"},
    ),
    (
        "es-coffee",
        "es",
        "food/cafe.md",
        "El cultivo del café",
        [
            "El café se cultiva en zonas tropicales de montaña; los granos maduran en cerezas rojas "
            "que se recogen a mano y luego se tuestan.",
        ],
        {"topic": "food"},
    ),
    (
        "zh-tea",
        "zh",
        "food/tea-zh.md",
        "茶的历史",
        [
            "茶起源于中国，已有数千年的饮用历史。绿茶和红茶的区别在于发酵的程度。",
        ],
        {"topic": "food"},
    ),
    (
        "ru-space",
        "ru",
        "science/space-ru.md",
        "Космос",
        [
            "Юрий Гагарин стал первым человеком, совершившим полёт в космос в 1961 году "
            "на корабле «Восток-1».",
        ],
        {"topic": "space"},
    ),
    # The title carries HTML and a Markdown image pointing outside: neither may render.
    (
        "en-web",
        "en",
        "tech/web-security.md",
        "Cross-site scripting <b>XSS</b> ![pixel](http://127.0.0.1:9/x.png)",
        [
            "Cross-site scripting happens when a page renders untrusted input such as "
            "<script>alert('xss')</script> without escaping it; the browser then runs the attacker's code.",
        ],
        {"topic": "security"},
    ),
]


def point_id(doc_id: str, chunk_index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{doc_id}#{chunk_index}"))


def index_corpus(
    store: VectorStore,
    encoder,
    collection: str,
    docs: Sequence = DOCS,
    ingested_at: str = "2024-05-01T12:00:00+00:00",
) -> int:
    """Encode and upsert `docs`; returns the number of chunks written."""
    store.ensure_collection(
        collection, encoder.identity, options=collection_options(_Opts(), metadata_fields=("topic",))
    )
    texts, payloads, ids = [], [], []
    for doc_id, lang, source, title, chunks, meta in docs:
        offset = 0
        for i, text in enumerate(chunks):
            texts.append(text)
            ids.append(point_id(doc_id, i))
            payloads.append(
                {
                    "doc_id": doc_id,
                    "source": source,
                    "title": title,
                    "lang": lang,
                    "doc_lang": lang,
                    "chunk_index": i,
                    "char_start": offset,
                    "char_end": offset + len(text),
                    "page": None,
                    "text": text,
                    "ingested_at": ingested_at,
                    **meta,
                }
            )
            offset += len(text) + 1
    vectors = encoder.encode_documents(texts)
    # Keyword vectors as the indexer writes them, so hybrid search has something to fuse.
    keywords = sparse_vectors(encoder.tokenizer, texts)
    store.upsert(
        collection,
        [
            Point(id=i, vector=v, payload=p, sparse=k)
            for i, v, p, k in zip(ids, vectors, payloads, keywords, strict=True)
        ],
    )
    return len(texts)


class _Opts:
    shard_number = None
    replication_factor = None
    on_disk_vectors = False
    scalar_quantization = False


# ---- fixtures -------------------------------------------------------------------------------
COLLECTION = "test_docs"


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory, encoder) -> Path:
    """A data dir whose embedded store holds the test corpus (closed again, so an app can open it)."""
    data_dir = tmp_path_factory.mktemp("rosetta-data")
    with open_embedded(data_dir) as store:
        index_corpus(store, encoder, COLLECTION)
    return data_dir


@pytest.fixture(scope="module")
def corpus_store(corpus_dir: Path) -> Iterator[VectorStore]:
    store = open_embedded(corpus_dir)
    yield store
    store.close()
