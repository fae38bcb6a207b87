"""Language-code bridging: users say `de` or `deu`, the data files say `deu`, Tatoeba says `cmn`."""

from __future__ import annotations

# ISO 639-1 -> the ISO 639-3 code used by the parallel-data file names.
ISO1_TO_ISO3: dict[str, str] = {
    "af": "afr",
    "am": "amh",
    "ar": "ara",
    "az": "aze",
    "be": "bel",
    "bg": "bul",
    "bn": "ben",
    "bs": "bos",
    "ca": "cat",
    "cs": "ces",
    "cy": "cym",
    "da": "dan",
    "de": "deu",
    "el": "ell",
    "eo": "epo",
    "es": "spa",
    "et": "est",
    "eu": "eus",
    "fa": "fas",
    "fi": "fin",
    "fr": "fra",
    "ga": "gle",
    "gl": "glg",
    "he": "heb",
    "hi": "hin",
    "hr": "hrv",
    "hu": "hun",
    "hy": "hye",
    "id": "ind",
    "is": "isl",
    "it": "ita",
    "ja": "jpn",
    "ka": "kat",
    "kk": "kaz",
    "ko": "kor",
    "lt": "lit",
    "lv": "lav",
    "mk": "mkd",
    "ml": "mal",
    "mr": "mar",
    "ms": "msa",
    "nl": "nld",
    "no": "nor",
    "nb": "nob",
    "pl": "pol",
    "pt": "por",
    "ro": "ron",
    "ru": "rus",
    "sk": "slk",
    "sl": "slv",
    "sq": "sqi",
    "sr": "srp",
    "sv": "swe",
    "sw": "swa",
    "ta": "tam",
    "te": "tel",
    "th": "tha",
    "tl": "fil",
    "tr": "tur",
    "uk": "ukr",
    "ur": "urd",
    "uz": "uzb",
    "vi": "vie",
    "zh": "zho",
    "gu": "guj",
    "kn": "kan",
    "ne": "nep",
    "pa": "pan",
    "so": "som",
}
ISO3_TO_ISO1: dict[str, str] = {v: k for k, v in ISO1_TO_ISO3.items()}
# Macro-language spellings that name the same data under another code.
ISO3_ALIASES: dict[str, str] = {"cmn": "zho", "lvs": "lav", "zsm": "msa", "pes": "fas", "swh": "swa"}
# Where the Tatoeba test set (LASER) uses another code than the parallel files.
TATOEBA_CODE: dict[str, str] = {"zho": "cmn", "lav": "lvs", "msa": "zsm", "fas": "pes", "swa": "swh"}


def to_iso3(code: str) -> str:
    """Normalise a user-given language code to the 639-3 code of the parallel-data files."""
    c = code.strip().lower()
    if c in ISO1_TO_ISO3:
        return ISO1_TO_ISO3[c]
    return ISO3_ALIASES.get(c, c)


def to_iso1(code: str) -> str:
    """639-1 code where one exists (langdetect and STS file names use these), else the input."""
    c = to_iso3(code)
    return ISO3_TO_ISO1.get(c, code.lower())


def tatoeba_code(code: str) -> str:
    c = to_iso3(code)
    return TATOEBA_CODE.get(c, c)
