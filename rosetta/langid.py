"""Language identification with langdetect: seeded (deterministic), `und` when unsure."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from langdetect import DetectorFactory, LangDetectException, detect_langs

UNDETERMINED = "und"
MIN_LETTERS = 3
MIN_PROBABILITY = 0.70
# langdetect says zh-cn / zh-tw; store plain ISO 639-1.
_ISO_FIX = {"zh-cn": "zh", "zh-tw": "zh"}
_lock = threading.Lock()


def detect(text: str, min_probability: float = MIN_PROBABILITY) -> str:
    """ISO 639-1 code of `text`, or `und` for text too short or ambiguous to tell."""
    letters = sum(ch.isalpha() for ch in text)
    if letters < MIN_LETTERS:
        return UNDETERMINED
    # langdetect's sampling is random; a fixed seed per call makes results reproducible.
    with _lock:
        DetectorFactory.seed = 0
        try:
            candidates = detect_langs(text)
        except LangDetectException:
            return UNDETERMINED
    if not candidates or candidates[0].prob < min_probability:
        return UNDETERMINED
    return _ISO_FIX.get(candidates[0].lang, candidates[0].lang)


def majority(langs: Iterable[str]) -> str:
    """Most common determined language (ties broken by first seen), else `und`."""
    counts = Counter(lang for lang in langs if lang != UNDETERMINED)
    return counts.most_common(1)[0][0] if counts else UNDETERMINED
