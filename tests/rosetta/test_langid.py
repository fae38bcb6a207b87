"""One language rule for short texts: `detect_query` decides, `contradicts` asks it whether a text is
in another language than expected (the pair filter), `same_language` compares codes."""

from __future__ import annotations

import pytest

from rosetta.langid import contradicts, same_language


@pytest.mark.parametrize(
    ("a", "b"),
    [("de", "deu"), ("tl", "fil"), ("zh", "cmn"), ("no", "nb"), ("fa", "prs"), ("ar", "arb"), ("sw", "swh")],
)
def test_spellings_and_close_varieties_are_one_language(a: str, b: str) -> None:
    assert same_language(a, b)


@pytest.mark.parametrize(("a", "b"), [("da", "nb"), ("es", "gl"), ("ms", "id"), ("de", "en"), ("zh", "yue")])
def test_different_languages_stay_apart(a: str, b: str) -> None:
    assert not same_language(a, b)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Heute regnet es.", "deu"),  # few words: character statistics guess French here
        ("Karl Drais 1817", "en"),  # a name and a number are no evidence
        ("Jeg bor i Oslo og liker å gå på tur i skogen om helgene.", "nor"),  # found as nb
        ("我哋今日去飲茶，你嚟唔嚟呀？", "yue"),  # Han writes Cantonese too, not only Chinese
        ("איך האב ליב צו לייענען ביכער אין דער ביבליאטעק.", "yid"),  # Hebrew letters, Yiddish words
    ],
)
def test_no_evidence_against_the_expected_language(text: str, lang: str) -> None:
    assert not contradicts(text, lang)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Où se trouve la gare, s'il vous plaît ?", "deu"),
        ("The children play in the garden.", "spa"),
        ("Москва является столицей России.", "de"),
    ],
)
def test_another_language_is_evidence(text: str, lang: str) -> None:
    assert contradicts(text, lang)


def test_language_names_come_from_langcodes() -> None:
    from rosetta.langid import language_name

    names = [language_name(c) for c in ("de", "fa", "zh", "und")]
    assert names == ["German", "Persian", "Chinese", "undetermined"]
    assert language_name("xx") is None  # not a language: the UI shows the code alone
