"""Snippets: a passage window around the part that best matches the query, highlighted, safe as HTML.

Safety rule: every document string is HTML-escaped before it reaches markup. Matches are found
on the raw text, and the output is assembled from *escaped* pieces plus our own `<mark>` tags,
so a query word can never match inside an entity (`&amp;`) and document markup never survives.

Terms, by script:
* spaced scripts (Latin, Cyrillic, Arabic, Devanagari…): whole words, where a word is a run of
  letters *and combining marks* (Python's `\\w` stops at Devanagari vowel signs, so "पैसे" fell
  apart); a term marks the same word or, from 4 letters on, a word with a short inflection
  ending ("Katze" → "Katzen", never "how" → "however");
* Han, kana, Hangul, Thai (no spaces between words): overlapping character bigrams, so a query
  word is found inside any run of text ("満ち欠け" inside "この満ち欠けを…"); bigrams that start
  with hiragana are grammar (particles, endings) and are dropped;
* stopwords — words more frequent than `STOPWORD_FREQ` in the query's or the passage's language
  (wordfreq) — are never marked ("del", "los", "que", "Les").

Cross-language hits mark only what occurs verbatim in the passage (names, numbers) and, when the
caller supplies sentence scores from the model, the sentence that best matches the query.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import regex

STOPWORD_FREQ = 1e-3  # "how" 1.7e-3, "que" 3.3e-2; "money" 4.4e-4 and "car" stay
INFLECTION_CHARS = 3  # a term of ≥ MIN_STEM letters also marks words this much longer
MIN_STEM = 4
MIN_TERM_CHARS = 2
NAME_MAX_FREQ = 2e-5  # a capitalised query word rarer than this in its language is taken as a name
# wordfreq segments these with optional packages (jieba, MeCab); their terms are bigrams anyway.
NEEDS_SEGMENTER = frozenset({"zh", "ja", "ko"})
# Languages whose function words are dropped when the query's language is not known.
COMMON_LANGS = ("en", "de", "fr", "es", "it", "pt", "nl")
WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}]+)?")
_UNSPACED = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}]")
_HIRAGANA_ONLY = regex.compile(r"^[\p{Hiragana}ー]+$")
_SENTENCE = regex.compile(r"[^.!?…。！？｡।॥؟۔\n]+(?:[.!?…。！？｡।॥؟۔]+|\n|$)")


def escape(text: object) -> str:
    """HTML-escape any document string (quotes included, so it is safe in attributes)."""
    return html.escape(str(text), quote=True)


def unspaced(term: str) -> bool:
    return bool(_UNSPACED.search(term))


@lru_cache(maxsize=4096)
def is_stopword(word: str, langs: tuple[str, ...]) -> bool:
    """A function word in one of `langs` (too frequent to say anything about a match)."""
    try:
        from wordfreq import word_frequency
    except ImportError:  # pragma: no cover - a declared dependency; degrade to no stopwords
        return False
    return any(
        word_frequency(word, lang, wordlist="small") >= STOPWORD_FREQ
        for lang in langs
        if lang and lang not in NEEDS_SEGMENTER
    )


def _stop_langs(*langs: str | None) -> tuple[str, ...]:
    known = tuple(sorted({lang for lang in langs if lang and lang != "und"}))
    return known or COMMON_LANGS


def query_terms(query: str, langs: Iterable[str | None] = ()) -> list[str]:
    """Distinct terms of the query worth highlighting, longest first (so longer matches win).

    `langs` are the languages whose stopwords are dropped (the query's and the passage's);
    when none is known, the stopwords of the common languages are.
    """
    stop = _stop_langs(*langs)
    terms: set[str] = set()
    for word in WORD.findall(unicodedata.normalize("NFC", query).casefold()):
        if unspaced(word):
            graphemes = regex.findall(r"\X", word)
            grams = ["".join(graphemes[i : i + 2]) for i in range(len(graphemes) - 1)] or graphemes
            # Hiragana is grammar here: a pair of it, or one that starts with it ("の満"), is dropped.
            terms.update(g for g in grams if not _HIRAGANA_ONLY.match(g) and not _HIRAGANA_ONLY.match(g[0]))
        elif word.isdigit() or (len(word) >= MIN_TERM_CHARS and not is_stopword(word, stop)):
            terms.add(word)
    return sorted(terms, key=lambda w: (-len(w), w))


@lru_cache(maxsize=512)
def _pattern(terms: tuple[str, ...]) -> regex.Pattern[str] | None:
    if not terms:
        return None
    parts = []
    for t in terms:
        if unspaced(t):
            parts.append(regex.escape(t))
        elif len(t) >= MIN_STEM and not t.isdigit():
            # The word itself or an inflected form ("Katze" → "Katzen"), never a longer word.
            parts.append(
                rf"(?<![\p{{L}}\p{{M}}\p{{N}}]){regex.escape(t)}[\p{{L}}\p{{M}}]{{0,{INFLECTION_CHARS}}}"
                rf"(?![\p{{L}}\p{{M}}\p{{N}}])"
            )
        else:
            parts.append(rf"(?<![\p{{L}}\p{{M}}\p{{N}}]){regex.escape(t)}(?![\p{{L}}\p{{M}}\p{{N}}])")
    return regex.compile("|".join(parts), regex.IGNORECASE)


def match_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    pattern = _pattern(tuple(terms))
    if pattern is None:
        return []
    # Overlapped: CJK bigrams share characters ("満ち", "ち欠", "欠け"); _render merges the spans.
    return [(m.start(), m.end()) for m in pattern.finditer(text, overlapped=True) if m.end() > m.start()]


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of `text` (any script's sentence ends, or line breaks), without blank ones."""
    out = []
    for m in _SENTENCE.finditer(text):
        start, end = m.start(), m.end()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end - start >= 2:
            out.append((start, end))
    return out


@dataclass(frozen=True)
class Marking:
    """What to mark in one passage: the query's terms (same language, or verbatim names/numbers
    across languages) and, optionally, the best-matching sentence from the model."""

    terms: tuple[str, ...] = ()
    best_sentence: str | None = None  # the sentence's text, as in the passage


def marking_for(
    query: str, query_lang: str | None, passage_lang: str, *, best_sentence: str | None = None
) -> Marking:
    """Terms to mark in a passage of `passage_lang` for a query (whose language may be unknown).

    A different language keeps only numbers and terms that do not look like that language's
    words, i.e. names and shared tokens; the best sentence then carries the match.
    """
    terms = query_terms(query, (query_lang, passage_lang))
    if query_lang and query_lang not in ("und", passage_lang):
        terms = [t for t in terms if t.isdigit() or unspaced(t) or _is_name_like(t, query, query_lang)]
    return Marking(tuple(terms), best_sentence)


def _is_name_like(term: str, query: str, lang: str) -> bool:
    """A term the query writes with a capital and that is not a common word of its language (the
    first word of a question is capitalised too): a name."""
    for w in WORD.findall(unicodedata.normalize("NFC", query)):
        if w.casefold() == term and w[:1].isupper():
            return not is_common(term, lang)
    return False


@lru_cache(maxsize=4096)
def is_common(word: str, lang: str) -> bool:
    try:
        from wordfreq import word_frequency
    except ImportError:  # pragma: no cover
        return False
    if lang in NEEDS_SEGMENTER:
        return False
    return word_frequency(word, lang, wordlist="small") >= NAME_MAX_FREQ


def highlight(text: str, query: str, *, enabled: bool = True, marking: Marking | None = None) -> str:
    """The whole text, escaped, with query terms wrapped in `<mark>` (and the best sentence in
    `<mark class="rosetta-sentence">`)."""
    if not enabled:
        return _render(text, [], 0, len(text))
    marking = marking or Marking(tuple(query_terms(query)))
    return _render(
        text, match_spans(text, marking.terms), 0, len(text), _sentence_span(text, marking.best_sentence)
    )


HEADING = regex.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", regex.M)


def shown_text(text: str, title: str = "") -> str:
    """The part of a passage a card shows: Markdown heading marks dropped, and a first line that
    only repeats the title (the card shows the title above it)."""
    text = HEADING.sub("", text).strip()
    first, _, rest = text.partition("\n")
    if title and rest and first.strip() == title.strip():
        text = rest
    return text


def _sentence_span(text: str, sentence: str | None) -> tuple[int, int] | None:
    if not sentence:
        return None
    flat = " ".join(sentence.split())
    at = text.find(flat)
    return (at, at + len(flat)) if at >= 0 else None


def snippet(
    text: str,
    query: str,
    *,
    enabled: bool = True,
    width: int = 320,
    title: str = "",
    marking: Marking | None = None,
) -> str:
    """A window of about `width` characters around the best-matching part, as safe HTML.

    The window centres on the model's best sentence when given, else on the stretch holding the
    most distinct query terms (not the first match: that is often a stopword on page 1).
    Markdown heading marks are dropped, and so is a leading line repeating `title` (the card
    already shows the title above the snippet).
    """
    text = " ".join(shown_text(text, title).split())  # a card shows flowing text
    if marking is None:
        marking = Marking(tuple(query_terms(query)))
    spans = match_spans(text, marking.terms) if enabled else []
    best = _sentence_span(text, marking.best_sentence) if enabled else None
    if len(text) <= width:
        start, end = 0, len(text)
    else:
        if best is not None:
            centre = (best[0] + best[1]) // 2 if best[1] - best[0] < width else best[0] + width // 3
        else:
            centre = _densest(text, spans, width)
        start = max(0, min(centre - width // 2, len(text) - width))
        end = min(len(text), start + width)
        # Widen to whole words so the window does not cut one in half.
        if start > 0:
            space = text.rfind(" ", 0, start)
            start = space + 1 if space != -1 and start - space < 30 else start
        if end < len(text):
            space = text.find(" ", end)
            end = space if space != -1 and space - end < 30 else end
    inside = [s for s in spans if s[0] >= start and s[1] <= end]
    body = _render(text, inside, start, end, best)
    return ("… " if start > 0 else "") + body + (" …" if end < len(text) else "")


def _densest(text: str, spans: list[tuple[int, int]], width: int) -> int:
    """Centre of the window of `width` that holds the most distinct matched terms (0: none)."""
    if not spans:
        return width // 2
    best_centre, best_count = width // 2, 0
    for s, _ in spans:
        window = {text[a:b].casefold() for a, b in spans if s <= a and b <= s + width}
        if len(window) > best_count:
            best_count, best_centre = len(window), s + width // 3
    return best_centre


def _render(
    text: str, spans: list[tuple[int, int]], start: int, end: int, sentence: tuple[int, int] | None = None
) -> str:
    if sentence is not None:
        s0, s1 = max(sentence[0], start), min(sentence[1], end)
        sentence = (s0, s1) if s1 > s0 else None
    kept: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if kept and s <= kept[-1][1]:  # overlapping or touching (CJK bigrams): one mark
            kept[-1] = (kept[-1][0], max(e, kept[-1][1]))
            continue
        if sentence is not None and (s < sentence[0] < e or s < sentence[1] < e):
            continue  # straddles the sentence edge: tags must nest; the sentence mark shows it
        kept.append((s, e))
    # (position, order, tag); at one position: close a term, close the sentence, open the
    # sentence, open a term, so that term marks always nest inside the sentence mark.
    events = [(s, 3, "<mark>") for s, _ in kept] + [(e, 0, "</mark>") for _, e in kept]
    if sentence is not None:
        events += [(sentence[0], 2, '<mark class="rosetta-sentence">'), (sentence[1], 1, "</mark>")]
    out: list[str] = []
    pos = start
    for at, _, tag in sorted(events):
        out.append(escape(text[pos:at]))
        out.append(tag)
        pos = at
    out.append(escape(text[pos:end]))
    return "".join(out)
