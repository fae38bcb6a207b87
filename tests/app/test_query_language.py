"""Query language detection: shown only when confident (short queries used to come out wrong)."""

from __future__ import annotations

import pytest

from rosetta.langid import QueryLanguage, detect_query


@pytest.mark.parametrize(
    ("query", "lang"),
    [
        ("electric car maintenance cost", "en"),  # was Romanian
        ("how do bees make honey?", "en"),  # was undetermined
        ("wie pflege ich tomaten?", "de"),
        ("cómo ahorrar dinero", "es"),
        ("pomodori sole", "it"),
        ("la photosynthèse des plantes vertes", "fr"),
        ("как сэкономить деньги", "ru"),
        ("كيف أوفر المال", "ar"),
        ("पैसे कैसे बचाएं", "hi"),
        ("月の満ち欠け", "ja"),
        ("茶的历史", "zh"),
    ],
)
def test_confident_languages(query: str, lang: str) -> None:
    result = detect_query(query)
    assert result == QueryLanguage(lang, True, result.probs)
    assert next(iter(result.probs)) == lang


@pytest.mark.parametrize(
    "query",
    [
        "Karl Drais 1817",  # was Lithuanian: names and a number say nothing
        "xqzv blorp 12345",  # was Slovenian
        "12345",
        "Gagarin",
        "Tomaten",  # one word several languages share
        "満",
        "",
        "?!",
    ],
)
def test_not_confident_is_none(query: str) -> None:
    result = detect_query(query)
    assert result.lang is None and not result.confident


def test_nonsense_lists_no_candidates() -> None:
    assert detect_query("xqzv blorp").probs == {}
