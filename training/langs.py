"""Language-code bridging: users say `de` or `deu`, the data files say `deu`, Tatoeba says `cmn`.

ISO 639-1 ↔ 639-3 comes from langcodes; the tables here are the data sets' own spellings.
"""

from __future__ import annotations

import langcodes

# Macro-language spellings that name the same data under another code.
ISO3_ALIASES: dict[str, str] = {"cmn": "zho", "lvs": "lav", "zsm": "msa", "pes": "fas", "swh": "swa"}
# langdetect's spelling where it differs from ISO 639-1 (Filipino has none; langdetect says `tl`).
LANGDETECT_CODE: dict[str, str] = {"fil": "tl"}
# Where the Tatoeba test set (LASER) uses another code than the parallel files.
TATOEBA_CODE: dict[str, str] = {"zho": "cmn", "lav": "lvs", "msa": "zsm", "fas": "pes", "swa": "swh"}


def to_iso3(code: str) -> str:
    """Normalise a user-given language code to the 639-3 code of the parallel-data files."""
    c = code.strip().lower()
    if len(c) == 2:
        try:
            return langcodes.Language.get(c).to_alpha3()
        except (LookupError, ValueError):
            return c
    return ISO3_ALIASES.get(c, c)


def to_iso1(code: str) -> str:
    """639-1 code where one exists (langdetect and STS file names use these), else the input."""
    c = to_iso3(code)
    if c in LANGDETECT_CODE:
        return LANGDETECT_CODE[c]
    try:
        short = langcodes.Language.get(c).language
        # Only the same language: langcodes would also fold varieties into their macrolanguage
        # (Dari `prs` into `fa`), which have data of their own.
        if short and len(short) == 2 and langcodes.Language.get(short).to_alpha3() == c:
            return short
    except (LookupError, ValueError):
        pass
    return code.lower()


def tatoeba_code(code: str) -> str:
    c = to_iso3(code)
    return TATOEBA_CODE.get(c, c)
