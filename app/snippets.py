"""Snippets: a passage window with the query's words highlighted, safe to render as HTML.

Safety rule: every document string is HTML-escaped before it reaches markup. Matches are found
on the raw text, and the output is assembled from *escaped* pieces plus our own `<mark>` tags,
so a query word can never match inside an entity (`&amp;`) and document markup never survives.
"""

from __future__ import annotations

import html
import re
import unicodedata

MIN_TERM_CHARS = 3  # shorter words (articles, particles) would light up every line
# Scripts written without spaces: a query word is a run of characters, matched as a substring.
_NO_SPACE_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF),
                    (0x0E00, 0x0E7F))


def escape(text: object) -> str:
    """HTML-escape any document string (quotes included, so it is safe in attributes)."""
    return html.escape(str(text), quote=True)


def _unspaced(term: str) -> bool:
    return any(lo <= ord(ch) <= hi for ch in term for lo, hi in _NO_SPACE_RANGES)


def query_terms(query: str) -> list[str]:
    """Distinct words of the query worth highlighting, longest first (so longer matches win)."""
    words = re.findall(r"\w+", unicodedata.normalize("NFC", query).casefold())
    keep = {w for w in words if len(w) >= MIN_TERM_CHARS or (_unspaced(w) and len(w) >= 2)}
    return sorted(keep, key=lambda w: (-len(w), w))


def _pattern(terms: list[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    parts = []
    for t in terms:
        if _unspaced(t):
            parts.append(re.escape(t))
        else:
            # From a word start, through the rest of the word: "Katze" also marks "Katzen".
            parts.append(rf"\b{re.escape(t)}\w*")
    return re.compile("|".join(parts), re.IGNORECASE)


def match_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    pattern = _pattern(terms)
    if pattern is None:
        return []
    return [(m.start(), m.end()) for m in pattern.finditer(text) if m.end() > m.start()]


def highlight(text: str, query: str, *, enabled: bool = True) -> str:
    """The whole text, escaped, with query words wrapped in `<mark>`."""
    spans = match_spans(text, query_terms(query)) if enabled else []
    return _render(text, spans, 0, len(text))


HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.M)


def snippet(text: str, query: str, *, enabled: bool = True, width: int = 320, title: str = "") -> str:
    """A window of about `width` characters around the first match (or the start), as safe HTML.

    Markdown heading marks are dropped, and so is a leading line repeating `title` (the card
    already shows the title above the snippet).
    """
    text = HEADING.sub("", text).strip()
    first, _, rest = text.partition("\n")
    if title and rest and first.strip() == title.strip():
        text = rest
    text = " ".join(text.split())  # passages keep layout newlines; a card shows flowing text
    spans = match_spans(text, query_terms(query)) if enabled else []
    if len(text) <= width:
        start, end = 0, len(text)
    else:
        anchor = spans[0][0] if spans else 0
        start = max(0, min(anchor - width // 3, len(text) - width))
        end = min(len(text), start + width)
        # Widen to whole words so the window does not cut one in half.
        if start > 0:
            space = text.rfind(" ", 0, start)
            start = space + 1 if space != -1 and start - space < 30 else start
        if end < len(text):
            space = text.find(" ", end)
            end = space if space != -1 and space - end < 30 else end
    body = _render(text, [s for s in spans if s[0] >= start and s[1] <= end], start, end)
    return ("… " if start > 0 else "") + body + (" …" if end < len(text) else "")


def _render(text: str, spans: list[tuple[int, int]], start: int, end: int) -> str:
    out: list[str] = []
    pos = start
    for s, e in spans:
        if s < pos:  # overlapping alternatives: the earlier (longer) one already covered it
            continue
        out.append(escape(text[pos:s]))
        out.append(f"<mark>{escape(text[s:e])}</mark>")
        pos = e
    out.append(escape(text[pos:end]))
    return "".join(out)
