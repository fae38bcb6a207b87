"""Language identification: langdetect for passages (seeded, `und` when unsure), word frequencies
for short search queries (`detect_query`)."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import langcodes
import numpy as np
from langdetect.detector import Detector
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.utils.ngram import NGram

UNDETERMINED = "und"
MIN_LETTERS = 3
MIN_PROBABILITY = 0.70
# langdetect says zh-cn / zh-tw; store plain ISO 639-1.
_ISO_FIX = {"zh-cn": "zh", "zh-tw": "zh"}
# Passages: the first 500 characters (1,000 before) with 3 sampling trials (7 before). On texts in
# the 54 languages langdetect knows (1, 3 and 8 sentences) 92.7/97.7/98.1 % right; the same texts
# through langdetect's own Detector 91.5/96.9/98.0 % (bench/langid.py).
PASSAGE_SAMPLE_CHARS = 500
PASSAGE_TRIALS = 3


def language_probs(text: str, trials: int = 7, max_chars: int = 10_000) -> dict[str, float]:
    """ISO 639-1 code → probability, best first; empty for text with too few letters.

    langdetect's method on langdetect's profiles, with `trials` sampling trials on the first
    `max_chars` characters (its defaults). Its n-gram features come out exactly as langdetect
    extracts them (tested); its sampling loop, one Python multiplication per language per step, runs
    as numpy cumulative sums of log-probabilities, checked for convergence at the same steps. Same
    accuracy as langdetect, a third of its CPU (1.34 → 0.50 ms a passage on the ingest bench's corpus): that
    CPU is taken from the encoder while ingesting."""
    if sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return {}
    model = _model()
    rows = [r for r in map(model.rows.get, _ngrams(text, max_chars)) if r is not None]
    if not rows:
        return {}
    sample = text[:max_chars]
    han_only = bool(_HAN.search(sample)) and not _KANA_OR_HANGUL.search(sample)
    total = _sample(model.probs[rows], trials, _log_prior(han_only))
    probs: dict[str, float] = {}
    for i in np.argsort(-total):
        if total[i] <= Detector.PROB_THRESHOLD:
            break
        code = _ISO_FIX.get(model.langs[i], model.langs[i])
        probs[code] = probs.get(code, 0.0) + float(total[i])
    return probs


@dataclass(frozen=True)
class _Model:
    """langdetect's profiles as a matrix: n-gram → row of P(n-gram | language)."""

    langs: list[str]
    rows: dict[str, int]
    probs: np.ndarray  # (n-grams, languages)


@functools.cache
def _model() -> _Model:
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    table = factory.word_lang_prob_map
    return _Model(list(factory.langlist), {w: i for i, w in enumerate(table)}, np.array(list(table.values())))


class _Normalized(dict[int, str]):
    """langdetect's per-character normalization as a `str.translate` table, filled as seen."""

    def __missing__(self, code: int) -> str:
        self[code] = out = NGram.normalize(chr(code))
        return out


_NORMALIZED = _Normalized()
_SPACES = re.compile(" {2,}")
_LATIN = re.compile("[A-z]")  # langdetect's test, `'A' <= ch <= 'z'`, punctuation between included
# From U+0300 on. langdetect means to leave Latin Extended Additional out, but its test compares a
# block number with a block name and never matches: Vietnamese letters count as non-Latin.
_NON_LATIN = re.compile("[\u0300-\U0010ffff]")


def _ngrams(text: str, max_chars: int) -> list[str]:
    """The 1-, 2- and 3-grams langdetect's Detector samples from (`append`, `cleaning_text`,
    `_extract_ngrams`), in another order: runs of spaces collapsed, grams never reach across a
    space, and none end on a letter that follows another capital."""
    text = Detector.MAIL_RE.sub(" ", Detector.URL_RE.sub(" ", text))
    text = NGram.normalize_vi(text)[:max_chars]
    # Mostly non-Latin text: drop its Latin letters (langdetect's cleaning_text).
    if 2 * len(_LATIN.findall(text)) < len(_NON_LATIN.findall(text)):
        text = _LATIN.sub("", text)
    s = _SPACES.sub(" ", " " + text.translate(_NORMALIZED))
    capitals = _capital_pairs(s)
    if not capitals:
        return (
            [c for c in s[1:] if c != " "]
            + [s[i : i + 2] for i in range(len(s) - 1)]
            + [s[i : i + 3] for i in range(len(s) - 2) if s[i + 1] != " "]
        )
    out = []
    for j in range(1, len(s)):
        if j in capitals:
            continue
        if s[j] != " ":
            out.append(s[j])
        out.append(s[j - 1 : j + 1])
        if j >= 2 and s[j - 1] != " ":
            out.append(s[j - 2 : j + 1])
    return out


def _capital_pairs(s: str) -> set[int]:
    """Positions of upper-case letters that follow an upper-case letter (langdetect skips them)."""
    lower = s.lower()
    # Upper-case letters without a lower case (ℂ, 𝐀) are invisible to the comparison with `lower`.
    uncased_upper = any(c.isupper() and c.lower() == c for c in set(s))
    if lower == s and not uncased_upper:
        return set()
    if len(lower) == len(s) and not uncased_upper:
        # surrogatepass: a lone surrogate (from an escaped JSON string) must not stop the detector.
        changed = np.frombuffer(s.encode("utf-32-le", "surrogatepass"), np.uint32) != np.frombuffer(
            lower.encode("utf-32-le", "surrogatepass"), np.uint32
        )
        candidates: Iterable[int] = (np.flatnonzero(changed[1:] & changed[:-1]) + 1).tolist()
    else:  # a letter whose lower case is longer (İ) or that has none: check every position
        candidates = range(1, len(s))
    return {j for j in candidates if s[j].isupper() and s[j - 1].isupper()}


_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")
_KANA_OR_HANGUL = re.compile("[\u3040-\u30ff\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")


@functools.cache
def _log_prior(han_only: bool) -> np.ndarray:
    """Every language alike (langdetect's default), except that Han characters with no kana or
    Hangul beside them (`han_only`) are not Japanese or Korean, which write those around their Han
    characters. Sampling alone let one trial in 20 on a Chinese paragraph settle on Korean
    (langdetect's own sampling as often), and one such trial of 3 leaves the passage `und`."""
    langs = _model().langs
    allowed = np.array([not (han_only and code in ("ja", "ko")) for code in langs])
    prior = np.where(allowed, -np.log(allowed.sum()), -np.inf)
    prior.flags.writeable = False  # shared by every call
    return prior


_BLOCK = 64  # sampling steps drawn at once; most known languages converge within one block


def _sample(features: np.ndarray, trials: int, log_prior: np.ndarray) -> np.ndarray:
    """langdetect's estimate (Detector._detect_block, with `log_prior` as its prior map): per trial,
    a smoothing weight drawn around alpha, n-grams drawn at random and their language probabilities
    multiplied in until one language holds 0.99999 (checked every 5 steps) or 1,001 steps; the
    trials averaged. Seeded: the same text always gets the same answer."""
    rng = np.random.default_rng(0)
    n_langs = features.shape[1]
    total = np.zeros(n_langs)
    limit = Detector.ITERATION_LIMIT + 1
    for _ in range(trials):
        weight = (Detector.ALPHA_DEFAULT + rng.standard_normal() * Detector.ALPHA_WIDTH) / Detector.BASE_FREQ
        log_p = log_prior
        done = 0
        while True:
            steps = min(_BLOCK, limit - done)
            picks = features[rng.integers(0, len(features), size=steps)]
            path = log_p + np.cumsum(np.log(picks + weight), axis=0)
            checked = path[(-done) % 5 :: 5]
            checked = checked - checked.max(axis=1, keepdims=True)
            converged = np.flatnonzero(np.exp(checked).sum(axis=1) < 1 / Detector.CONV_THRESHOLD)
            done += steps
            if converged.size or done >= limit:
                final = checked[converged[0]] if converged.size else checked[-1]
                break
            log_p = path[-1]
        p = np.exp(final)
        total += p / p.sum() / trials
    return total


def detect(text: str, min_probability: float = MIN_PROBABILITY) -> str:
    """ISO 639-1 code of a passage, or `und` for text too short or ambiguous to tell."""
    probs = language_probs(text, PASSAGE_TRIALS, PASSAGE_SAMPLE_CHARS)
    if not probs:
        return UNDETERMINED
    best = max(probs, key=probs.__getitem__)
    return best if probs[best] >= min_probability else UNDETERMINED


def majority(langs: Iterable[str]) -> str:
    """Most common determined language (ties broken by first seen), else `und`."""
    counts = Counter(lang for lang in langs if lang != UNDETERMINED)
    return counts.most_common(1)[0][0] if counts else UNDETERMINED


def same_language(a: str, b: str) -> bool:
    """Do two codes name one language: any spelling (ISO 639-1 or -3, `tl`/`fil`, `cmn`/`zh`) or a
    close variety (below 10 on langcodes' distance scale: `no`/`nb`, `fa`/`prs`, `bs`/`hr`)?"""
    try:
        return langcodes.tag_distance(_standard(a), _standard(b)) < 10
    except (langcodes.tag_parser.LanguageTagError, ValueError):
        return a.lower() == b.lower()


def language_name(code: str) -> str | None:
    """The English name of a language code (`de` → German, `und` → undetermined), None if unknown."""
    if code == UNDETERMINED:
        return "undetermined"
    try:
        language = langcodes.Language.get(code)
    except (langcodes.tag_parser.LanguageTagError, ValueError):
        return None
    return language.display_name() if language.is_valid() else None


def _standard(code: str) -> str:
    return langcodes.standardize_tag(code, macro=True)


# ---- queries ----------------------------------------------------------------------------------
# Character-statistics detectors (langdetect) guess wildly on a few words: "electric car
# maintenance cost" → ro, "Karl Drais 1817" → lt. A query is scored instead by how common its
# words are in each candidate language (wordfreq's frequency lists), among the languages its
# script allows; a language is reported only when enough words are known and one language wins
# clearly. Scripts used by one language (kana, Hangul, Thai, Greek…) decide on their own.
@dataclass(frozen=True)
class QueryLanguage:
    """A query's language: `lang` is an ISO 639-1 code, or None when not confident."""

    lang: str | None
    confident: bool
    probs: dict[str, float]


UNKNOWN_LOG_FREQ = -8.0  # log10 frequency charged for a word a language's list lacks
MIN_KNOWN_WORDS = 2  # names and numbers alone never decide
MIN_KNOWN_FRACTION = 0.6
MIN_MARGIN = 0.5  # log10 units of mean word frequency between the best and the second language
LONG_QUERY_LETTERS = 40  # from here on langdetect is reliable enough to fall back on
# ISO 15924 codes of the scripts in _SCRIPT_LANG, to tell which languages each could be writing.
_SCRIPT_CODES = {
    "hangul": {"Kore", "Hang"},
    "kana": {"Jpan"},
    "thai": {"Thai"},
    "greek": {"Grek"},
    "hebrew": {"Hebr"},
    "bengali": {"Beng"},
    "tamil": {"Taml"},
    "georgian": {"Geor"},
    "armenian": {"Armn"},
    "han": {"Hans", "Hant", "Hani"},
}
# Languages with a wordfreq list, by the script they are written in.
_WORDFREQ_BY_SCRIPT = {
    "latin": (
        "ca",
        "cs",
        "da",
        "de",
        "en",
        "es",
        "fi",
        "fil",
        "fr",
        "hu",
        "id",
        "is",
        "it",
        "lt",
        "lv",
        "ms",
        "nb",
        "nl",
        "pl",
        "pt",
        "ro",
        "sk",
        "sl",
        "sv",
        "tr",
        "vi",
    ),
    "cyrillic": ("ru", "uk", "bg", "mk"),
    "arabic": ("ar", "fa", "ur"),
}
# Scripts that name their language outright (Devanagari also writes Marathi and Nepali: langdetect
# decides among those).
_SCRIPT_LANG = {
    "hangul": "ko",
    "kana": "ja",
    "thai": "th",
    "greek": "el",
    "hebrew": "he",
    "bengali": "bn",
    "tamil": "ta",
    "georgian": "ka",
    "armenian": "hy",
    "han": "zh",
}
_SCRIPT_RANGES = (
    ("kana", 0x3040, 0x30FF),
    ("han", 0x3400, 0x4DBF),
    ("han", 0x4E00, 0x9FFF),
    ("hangul", 0xAC00, 0xD7AF),
    ("hangul", 0x1100, 0x11FF),
    ("thai", 0x0E00, 0x0E7F),
    ("greek", 0x0370, 0x03FF),
    ("cyrillic", 0x0400, 0x04FF),
    ("hebrew", 0x0590, 0x05FF),
    ("arabic", 0x0600, 0x06FF),
    ("arabic", 0x0750, 0x077F),
    ("devanagari", 0x0900, 0x097F),
    ("bengali", 0x0980, 0x09FF),
    ("tamil", 0x0B80, 0x0BFF),
    ("georgian", 0x10A0, 0x10FF),
    ("armenian", 0x0530, 0x058F),
    ("latin", 0x0041, 0x024F),
)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def _script(ch: str) -> str | None:
    code = ord(ch)
    for name, lo, hi in _SCRIPT_RANGES:
        if lo <= code <= hi:
            return name
    return None


def dominant_script(text: str) -> str | None:
    """The script most letters of `text` are written in (kana wins over Han: Japanese mixes both)."""
    counts = Counter(s for ch in text if ch.isalpha() and (s := _script(ch)))
    if not counts:
        return None
    if counts.get("kana"):
        return "kana"
    return counts.most_common(1)[0][0]


def _word_scores(words: list[str], langs: Iterable[str]) -> dict[str, tuple[float, int]]:
    """Mean log10 frequency of `words` and how many are known, per language."""
    from wordfreq import word_frequency

    scores: dict[str, tuple[float, int]] = {}
    for lang in langs:
        freqs = [word_frequency(w, lang, wordlist="small") for w in words]
        logs = [math.log10(f) if f > 0 else UNKNOWN_LOG_FREQ for f in freqs]
        scores[lang] = (sum(logs) / len(logs), sum(f > 0 for f in freqs))
    return scores


def _softmax(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values())
    # A log10 frequency is a log-likelihood per word; ln(10) turns it into natural units.
    exp = {k: math.exp((v - top) * math.log(10)) for k, v in scores.items()}
    total = sum(exp.values())
    return {k: round(v / total, 4) for k, v in sorted(exp.items(), key=lambda kv: -kv[1])[:5]}


def detect_query(text: str) -> QueryLanguage:
    """The language of a search query, reported only when confident.

    Numbers, names and nonsense come out `lang=None`; so do a few words that several languages
    share. `probs` holds the candidates considered (at most five), best first.
    """
    text = unicodedata.normalize("NFKC", text)
    script = dominant_script(text)
    if script is None:
        return QueryLanguage(None, False, {})
    if script in _SCRIPT_LANG:
        letters = sum(_script(ch) == script for ch in text)
        # One Han character is too little to say Chinese rather than a Japanese kanji word.
        confident = letters >= 2
        lang = _SCRIPT_LANG[script]
        return QueryLanguage(lang if confident else None, confident, {lang: 1.0})
    if script == "devanagari":
        probs = {k: v for k, v in language_probs(text).items() if k in ("hi", "mr", "ne")} or {"hi": 0.5}
        best = max(probs, key=probs.__getitem__)
        confident = probs[best] >= MIN_PROBABILITY
        return QueryLanguage(best if confident else None, confident, probs)
    words = [w.casefold() for w in _WORD.findall(text) if _script(w[0]) == script]
    candidates = _WORDFREQ_BY_SCRIPT.get(script, ())
    if words and candidates:
        scores = _word_scores(words, candidates)
        ranked = sorted(scores, key=lambda k: -scores[k][0])
        best, second = ranked[0], ranked[1] if len(ranked) > 1 else None
        mean, known = scores[best]
        margin = mean - scores[second][0] if second else math.inf
        # Nothing known in any language (nonsense, names): no candidates worth listing.
        probs = _softmax({k: v[0] for k, v in scores.items()}) if scores[best][1] else {}
        if known >= MIN_KNOWN_WORDS and known / len(words) >= MIN_KNOWN_FRACTION and margin >= MIN_MARGIN:
            return QueryLanguage(best, True, probs)
    else:
        probs = {}
    # Languages without a frequency list (Swahili, Estonian…): trust langdetect on longer text only.
    if sum(ch.isalpha() for ch in text) >= LONG_QUERY_LETTERS:
        detected = language_probs(text)
        if detected:
            best = max(detected, key=detected.__getitem__)
            if detected[best] >= 0.9 and best not in candidates:
                return QueryLanguage(best, True, detected)
    return QueryLanguage(None, False, probs)


def contradicts(text: str, lang: str) -> bool:
    """Is `text` confidently in another language than `lang`? Decided as a query's language is
    (`detect_query`: names, numbers and a few words several languages share are no evidence); a
    script that names its language on its own (Han, kana, Hebrew…) contradicts only languages
    written in another script (Cantonese and Chinese both write Han; Yiddish writes Hebrew)."""
    found = detect_query(text)
    if found.lang is None or same_language(found.lang, lang):
        return False
    script = dominant_script(unicodedata.normalize("NFKC", text))
    if script in _SCRIPT_LANG:
        return _written_in(lang) not in _SCRIPT_CODES[script]
    return True


def _written_in(lang: str) -> str | None:
    """The ISO 15924 script a language is usually written in (None: unknown)."""
    try:
        return langcodes.Language.get(_standard(lang)).maximize().script
    except (langcodes.tag_parser.LanguageTagError, ValueError):
        return None
