"""Language-agnostic retrieval (LAReQA-style): queries in one language, a pool of all languages.

Built from held-out multi-way groups (`training.multiway`): a *document* is two consecutive
groups' sentences in one language; every language has its version of each document, and a
query is the document's first sentence in some language (query prompt). Relevant: the
document in every language present in the pool. Three pools:

* balanced: every document in every language;
* imbalanced: ~80% English (English-only distractor documents; each other language keeps a
  different 10% of the documents);
* topic-skewed: each non-English language holds mostly one topic cluster of the documents
  (k-means on the English vectors) plus 20% of the rest, so a per-language corpus mean is
  partly a topic mean.

Metrics per pool and ranking: mAP@50 and R@10 over the mixed pool, X→en and X→X acc@1 (the
pool restricted to English / to the query's language), and same-language bias: of the pairs
(irrelevant document in the query's language, relevant document in another language), the
share where the irrelevant one scores higher.

Rankings compared: plain; corpus means (each language's mean subtracted from documents by pool;
from queries, the query set's mean, or the documents' as a live system would have to); the
model's language vectors (each language's mean over estimation pairs, never held-out groups) and
variants: offsets onto English or the centroid, one offset for both prompts, pairs per language,
the detected query language, languages without data, the packaged file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rosetta.langid import detect_query
from rosetta.mining import unit_rows
from rosetta.models.language_vectors import LanguageVectors, for_model
from training.language_vectors import CachedEmbedder, estimate
from training.multiway import Group, load_groups

DEFAULT_LANGS = ("en", "de", "es", "fr", "pt", "ru", "zh", "ja", "ar", "hi", "tr", "ko")
DEFAULT_DOCS = 80
DEFAULT_DISTRACTORS = 240
DEFAULT_PAIRS = 32
PAIR_SWEEP = (8, 16, 32, 64)
TOPICS = 4
MAP_CUTOFF = 50
RECALL_K = 10


@dataclass
class RetrievalData:
    langs: tuple[str, ...]
    doc_texts: dict[str, list[str]]  # lang → document texts (index = document id)
    query_texts: dict[str, list[str]]  # lang → query texts (index = document id)
    distractors: list[str]  # English-only documents
    estimation: list[Group]


def build_data(
    parallel_dir: Path,
    langs: Sequence[str] = DEFAULT_LANGS,
    n_docs: int = DEFAULT_DOCS,
    n_distractors: int = DEFAULT_DISTRACTORS,
) -> RetrievalData:
    groups = load_groups(parallel_dir, langs, min_langs=1)
    full = [g for g in groups if all(x in g.texts for x in langs)]
    heldout = [g for g in full if g.heldout]
    if len(heldout) < 2 * n_docs:
        raise ValueError(
            f"retrieval eval: only {len(heldout)} held-out sentences are translated into all "
            f"of {', '.join(langs)}; need {2 * n_docs} (use fewer languages or documents)"
        )
    used = heldout[: 2 * n_docs]
    docs = {
        x: [f"{a.texts[x]} {b.texts[x]}" for a, b in zip(used[::2], used[1::2], strict=True)] for x in langs
    }
    queries = {x: [a.texts[x] for a in used[::2]] for x in langs}
    taken = {g.english for g in used}
    spare = [g.english for g in groups if g.heldout and g.english not in taken][: 2 * n_distractors]
    distractors = [f"{a} {b}" for a, b in zip(spare[::2], spare[1::2], strict=True)]
    return RetrievalData(tuple(langs), docs, queries, distractors, [g for g in full if not g.heldout])


@dataclass
class Pool:
    name: str
    doc: np.ndarray  # document id per item (-1: distractor)
    lang: np.ndarray  # language per item
    vectors: np.ndarray  # passage vectors, plain


def _kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = x[rng.choice(len(x), k, replace=False)]
    for _ in range(iters):
        labels = np.argmax(x @ centres.T, axis=1)
        centres = unit_rows(
            np.stack([x[labels == c].mean(0) if (labels == c).any() else centres[c] for c in range(k)])
        )
    return labels


def build_pools(
    data: RetrievalData, doc_vecs: dict[str, np.ndarray], distractor_vecs: np.ndarray
) -> list[Pool]:
    langs = data.langs
    n = len(data.query_texts[langs[0]])

    def pool(name: str, members: dict[str, np.ndarray], extra: bool) -> Pool:
        doc, lang, vecs = [], [], []
        for x in langs:
            ids = members[x]
            doc += list(ids)
            lang += [x] * len(ids)
            vecs.append(doc_vecs[x][ids])
        if extra:
            doc += [-1] * len(distractor_vecs)
            lang += ["en"] * len(distractor_vecs)
            vecs.append(distractor_vecs)
        return Pool(name, np.array(doc), np.array(lang), np.concatenate(vecs))

    every = np.arange(n)
    balanced = pool("balanced", dict.fromkeys(langs, every), False)
    imbalanced = pool(
        "imbalanced",
        {x: every if x == "en" else every[(every + j) % 10 == 0] for j, x in enumerate(langs)},
        True,
    )
    topic = _kmeans(doc_vecs["en"], TOPICS)
    skewed = pool(
        "topic-skewed",
        {x: every if x == "en" else every[topic == j % TOPICS] for j, x in enumerate(langs)},
        False,
    )
    return [balanced, imbalanced, skewed]


# A ranking turns (query vectors, query langs, pool) into (query vectors, passage vectors).
Ranking = Callable[[np.ndarray, np.ndarray, Pool], tuple[np.ndarray, np.ndarray]]


def plain() -> Ranking:
    return lambda q, qlang, pool: (q, pool.vectors)


def corpus_means(query_means: bool = True) -> Ranking:
    """Each language's mean over the pool subtracted from its documents; from queries, the mean
    of the query set (`query_means`) or, as a live system would have to, the documents' mean."""

    def rank(q: np.ndarray, qlang: np.ndarray, pool: Pool) -> tuple[np.ndarray, np.ndarray]:
        p = pool.vectors.copy()
        means = {x: pool.vectors[pool.lang == x].mean(0) for x in np.unique(pool.lang)}
        for x, m in means.items():
            p[pool.lang == x] -= m
        q2 = q.copy()
        for x in np.unique(qlang):
            q2[qlang == x] -= q[qlang == x].mean(0) if query_means else means[x]
        return unit_rows(q2), unit_rows(p)

    return rank


def with_vectors(
    vectors: LanguageVectors, query_langs: Sequence[tuple[str | None, dict[str, float]]] | None = None
) -> Ranking:
    """Shift passages by their language and queries by theirs (or by detected language/mixture)."""

    def rank(q: np.ndarray, qlang: np.ndarray, pool: Pool) -> tuple[np.ndarray, np.ndarray]:
        p = vectors.shift_documents(pool.vectors, list(pool.lang))
        if query_langs is None:
            q2 = np.stack([vectors.shift_query(v, str(x)) for v, x in zip(q, qlang, strict=True)])
        else:
            q2 = np.stack(
                [vectors.shift_query(v, lang, probs) for v, (lang, probs) in zip(q, query_langs, strict=True)]
            )
        return q2, p

    return rank


def variant(
    vectors: LanguageVectors, *, onto: str = "en", shared: bool = False, drop: Sequence[str] = ()
) -> LanguageVectors:
    """Variants of one estimate: shift onto the centroid of all languages instead of English;
    one offset for both prompts; languages treated as having no parallel data."""
    p, q = vectors.passage.copy(), vectors.query.copy()
    if shared:
        p = q = (p + q) / 2
    if onto == "centroid":
        p, q = p - p.mean(0), q - q.mean(0)
    keep = [i for i, x in enumerate(vectors.langs) if x not in drop]
    return LanguageVectors(
        tuple(vectors.langs[i] for i in keep),
        p[keep],
        q[keep],
        vectors.model_sha256,
        tuple(vectors.pairs[i] for i in keep) if vectors.pairs else (),
    )


def neighbours(vectors: LanguageVectors, borrow: dict[str, str]) -> LanguageVectors:
    """Languages treated as having no data of their own, each given a neighbour's vector."""
    where = vectors.index()
    rows = [where[borrow.get(x, x)] for x in vectors.langs]
    return LanguageVectors(vectors.langs, vectors.passage[rows], vectors.query[rows], vectors.model_sha256)


def score(q: np.ndarray, qlang: np.ndarray, qdoc: np.ndarray, p: np.ndarray, pool: Pool) -> dict[str, float]:
    sims = q @ p.T
    aps, recalls, bias = [], [], []
    x_en: list[float] = []
    x_x: list[float] = []
    for i in range(len(q)):
        rel = pool.doc == qdoc[i]
        if not rel.any():
            continue
        s = sims[i]
        order = np.argsort(-s, kind="stable")
        hits = rel[order]
        top = hits[:MAP_CUTOFF]
        precision = np.cumsum(top) / np.arange(1, len(top) + 1)
        aps.append(float((precision * top).sum() / min(rel.sum(), MAP_CUTOFF)))
        recalls.append(float(hits[:RECALL_K].sum() / rel.sum()))
        same = pool.lang == qlang[i]
        irrelevant_same = s[same & ~rel]
        relevant_other = s[~same & rel]
        if len(irrelevant_same) and len(relevant_other):
            bias.append(float((irrelevant_same[:, None] > relevant_other[None, :]).mean()))
        for target, bucket in (("en", x_en), (qlang[i], x_x)):
            if target == "en" and qlang[i] == "en":
                continue
            mask = pool.lang == target
            if (mask & rel).any():
                best = np.flatnonzero(mask)[np.argmax(s[mask])]
                bucket.append(float(rel[best]))
    mean = lambda v: round(100 * float(np.mean(v)), 1) if v else float("nan")  # noqa: E731
    return {
        "map@50": mean(aps),
        "r@10": mean(recalls),
        "x_en_acc@1": mean(x_en),
        "x_x_acc@1": mean(x_x),
        "same_lang_bias": mean(bias),
        "queries": len(aps),
    }


def evaluate_retrieval(
    embed: CachedEmbedder,
    parallel_dir: Path,
    langs: Sequence[str] = DEFAULT_LANGS,
    n_docs: int = DEFAULT_DOCS,
    n_distractors: int = DEFAULT_DISTRACTORS,
    pairs: int = DEFAULT_PAIRS,
    variants: bool = True,
) -> dict[str, Any]:
    """{pool: {ranking: metrics}} plus the data sizes."""
    data = build_data(parallel_dir, langs, n_docs, n_distractors)
    doc_vecs = {x: embed.passages(data.doc_texts[x], f"documents {x}") for x in data.langs}
    distractor_vecs = embed.passages(data.distractors, "English distractors")
    qlang = np.array([x for x in data.langs for _ in data.query_texts[x]])
    qdoc = np.array([i for x in data.langs for i in range(len(data.query_texts[x]))])
    qvec = np.concatenate([embed.queries(data.query_texts[x], f"queries {x}") for x in data.langs])
    sweep = sorted({*(PAIR_SWEEP if variants else ()), pairs})
    estimates = {n: estimate(embed, data.estimation, data.langs, n) for n in sweep}
    model = estimates[pairs]
    onto_english = estimate(embed, data.estimation, data.langs, pairs, center=False)
    rankings: dict[str, Ranking] = {
        "plain": plain(),
        "corpus means": corpus_means(),
        f"language vectors ({pairs} pairs)": with_vectors(model),
    }
    ident = embed.encoder.identity
    packaged = for_model(ident.name, ident.weights_sha256)
    if packaged is not None:
        # The file the product ships (estimated on more languages' pairs, the same held-out split).
        rankings["language vectors, packaged file"] = with_vectors(packaged)
        if variants and {"mr", "ja", "hi", "ko"} <= set(packaged.langs):
            rankings["packaged, hi+ko without data (a neighbour's vector: mr, ja)"] = with_vectors(
                neighbours(packaged, {"hi": "mr", "ko": "ja"})
            )
    if variants:
        texts = [t for x in data.langs for t in data.query_texts[x]]
        detected = [(ql.lang, ql.probs) for ql in map(detect_query, texts)]
        rankings.update(
            {
                "corpus means, documents' means for queries": corpus_means(query_means=False),
                "language vectors, detected query language": with_vectors(model, detected),
                "language vectors, one offset for both prompts": with_vectors(variant(model, shared=True)),
                "offsets onto English (not centered)": with_vectors(onto_english),
                "offsets onto the centroid of the offsets": with_vectors(
                    variant(onto_english, onto="centroid")
                ),
                "language vectors, hi+ko without data (English's vector)": with_vectors(
                    variant(model, drop=("hi", "ko"))
                ),
                **{f"language vectors ({n} pairs)": with_vectors(estimates[n]) for n in sweep if n != pairs},
            }
        )
    pools = build_pools(data, doc_vecs, distractor_vecs)
    result: dict[str, Any] = {
        "langs": list(data.langs),
        "documents": n_docs,
        "distractors": len(data.distractors),
        "queries": len(qvec),
        "pairs_per_language": pairs,
        "pools": {
            p.name: {"items": len(p.doc), "english_share": round(float((p.lang == "en").mean()), 3)}
            for p in pools
        },
    }
    for pool in pools:
        out: dict[str, dict[str, float]] = {}
        for name, ranking in rankings.items():
            q2, p2 = ranking(qvec, qlang, pool)
            out[name] = score(q2, qlang, qdoc, p2, pool)
            if "without data" in name or name == "language vectors, packaged file":
                keep = np.isin(qlang, ["hi", "ko"])
                out[name + ": hi+ko queries"] = score(q2[keep], qlang[keep], qdoc[keep], p2, pool)
                q0, p0 = plain()(qvec, qlang, pool)
                out["plain: hi+ko queries"] = score(q0[keep], qlang[keep], qdoc[keep], p0, pool)
        result[pool.name] = out
    return result


def default_parallel_dir(eval_dir: Path | None) -> Path | None:
    for candidate in ([eval_dir.parent / "parallel"] if eval_dir is not None else []) + [
        Path("../shared/data/parallel")
    ]:
        if candidate.is_dir():
            return candidate
    return None


def markdown(result: dict[str, Any]) -> str:
    cols = ("map@50", "r@10", "x_en_acc@1", "x_x_acc@1", "same_lang_bias")
    lines = []
    for pool in ("balanced", "imbalanced", "topic-skewed"):
        if pool not in result:
            continue
        info = result["pools"][pool]
        share = 100 * info["english_share"]
        lines += [
            f"\n**{pool}** pool ({info['items']} documents, {share:.0f}% English)\n",
            "| ranking | " + " | ".join(cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        for name, m in result[pool].items():
            lines.append(f"| {name} | " + " | ".join(f"{m[c]:.1f}" for c in cols) + " |")
    return "\n".join(lines)
