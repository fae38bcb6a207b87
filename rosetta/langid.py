"""Language identification with langdetect: seeded (deterministic), `und` when unsure."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from langdetect import DetectorFactory, LangDetectException, detect_langs

UNDETERMINED = "und"
MIN_LETTERS = 3
MIN_PROBABILITY = 0.70
# langdetect says zh-cn / zh-tw; store plain ISO 639-1.
_ISO_FIX = {"zh-cn": "zh", "zh-tw": "zh"}
SHORT_WORD = 10  # letters; see detect_query
_lock = threading.Lock()


@dataclass(frozen=True)
class QueryLanguage:
    """A query's language: `lang` is None unless the detector is confident; `probs` are its guesses."""

    lang: str | None
    confident: bool
    probs: dict[str, float] = field(default_factory=dict)


def language_probs(text: str) -> dict[str, float]:
    """ISO 639-1 code → probability (langdetect), best first; empty for text with too few letters."""
    if sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return {}
    # langdetect's sampling is random; a fixed seed per call makes results reproducible.
    with _lock:
        DetectorFactory.seed = 0
        try:
            candidates = detect_langs(text)
        except LangDetectException:
            return {}
    probs: dict[str, float] = {}
    for c in candidates:
        code = _ISO_FIX.get(c.lang, c.lang)
        probs[code] = probs.get(code, 0.0) + float(c.prob)
    return probs


def detect(text: str, min_probability: float = MIN_PROBABILITY) -> str:
    """ISO 639-1 code of `text`, or `und` for text too short or ambiguous to tell."""
    probs = language_probs(text)
    if not probs:
        return UNDETERMINED
    best = max(probs, key=probs.__getitem__)
    return best if probs[best] >= min_probability else UNDETERMINED


def detect_query(text: str) -> QueryLanguage:
    """The language of a search query, with the detector's probabilities.

    langdetect guesses wildly on one short word ("drink" → lt), so a single word of fewer than
    `SHORT_WORD` letters gets no guess at all — unless it is in a script written without spaces,
    where a few characters already say a lot.
    """
    words = text.split()
    if len(words) == 1 and sum(ch.isalpha() for ch in text) < SHORT_WORD \
            and not any(ord(ch) > 0x2E80 for ch in text):
        return QueryLanguage(None, False, {})
    probs = language_probs(text)
    best = max(probs, key=probs.__getitem__) if probs else None
    confident = best is not None and probs[best] >= MIN_PROBABILITY
    return QueryLanguage(best if confident else None, confident, probs)


def majority(langs: Iterable[str]) -> str:
    """Most common determined language (ties broken by first seen), else `und`."""
    counts = Counter(lang for lang in langs if lang != UNDETERMINED)
    return counts.most_common(1)[0][0] if counts else UNDETERMINED
