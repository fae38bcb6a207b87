"""Highlighting and snippet windows in every script (pure functions, no model)."""

from __future__ import annotations

from app import snippets as s


def test_hindi_words_with_vowel_signs_are_terms() -> None:
    # Python's \w stops at Devanagari vowel signs, so this query used to give no terms.
    assert "पैसे" in s.query_terms("पैसे कैसे बचाएं")
    assert "<mark>पैसे</mark>" in s.highlight("पैसे बचाने के लिए बजट बनाएं।", "पैसे कैसे बचाएं")


def test_japanese_and_chinese_match_inside_runs() -> None:
    # The query is one run of characters; the text has only part of it, inside a sentence.
    html = s.highlight("満ち欠けは約29.5日の周期で繰り返されます。", "月の満ち欠け")
    assert "<mark>満ち欠け</mark>" in html
    assert "<mark>光合作用</mark>" in s.highlight("植物进行光合作用。", "什么是光合作用")
    # Overlapping bigrams mark the whole word, and the particle before it stays unmarked.
    assert (
        s.highlight("昔は、この満ち欠けをもとにした暦", "月の満ち欠け")
        == "昔は、この<mark>満ち欠け</mark>をもとにした暦"
    )
    # Hiragana-only pairs are grammar: "の" never lights up alone.
    assert all(not t.startswith("の") or len(t) > 1 for t in s.query_terms("月の満ち欠け"))


def test_no_prefix_matches_into_other_words() -> None:
    assert (
        s.highlight("However, this is how it works", "how it works")
        == "However, this is how it <mark>works</mark>"
    )  # "how" and "it": stopwords
    assert s.highlight("Katzen & Hunde", "Katze") == "<mark>Katzen</mark> &amp; Hunde"  # inflection
    assert s.highlight("Katzenklappe", "Katze") == "Katzenklappe"


def test_stopwords_never_light_up() -> None:
    terms = s.query_terms("el precio del café y los que", ("es",))
    assert set(terms) == {"precio", "café"}
    assert s.query_terms("Les volcans de la Terre", ("fr",)) == ["volcans", "terre"]


def test_cross_language_marks_only_names_and_numbers() -> None:
    mark = s.marking_for("When did Karl Drais build the bicycle in 1817", "en", "de")
    assert set(mark.terms) == {"karl", "drais", "1817"}
    html = s.highlight(
        "Karl Drais baute 1817 das erste Laufrad; das bicycle-Wort kam später.", "", marking=mark
    )
    assert "<mark>Karl</mark> <mark>Drais</mark>" in html and "<mark>1817</mark>" in html
    assert "<mark>bicycle" not in html
    # The same query against an English passage marks its words.
    assert "bicycle" in s.marking_for("When did Karl Drais build the bicycle", "en", "en").terms


def test_unknown_query_language_does_not_drop_terms() -> None:
    mark = s.marking_for("Gagarin 1961", None, "ru")
    assert set(mark.terms) == {"gagarin", "1961"}


def test_best_sentence_window_and_mark() -> None:
    page1 = "Die Firma wurde 1990 gegründet und hat ihren Sitz in Berlin. " * 8
    page2 = "Der Umsatz stieg im dritten Quartal um zwölf Prozent auf vier Millionen Euro."
    text = page1 + page2 + " Weitere Angaben folgen im Anhang."
    out = s.snippet(
        text, "Umsatz drittes Quartal", width=200, marking=s.Marking(("umsatz",), best_sentence=page2)
    )
    assert out.startswith("… ") and '<mark class="rosetta-sentence">' in out and "Quartal" in out
    # Without the model: the window with the most distinct terms, not the first match.
    text = "Die Firma wurde gegründet. " * 20 + "Umsatz und Quartal und Prozent stiegen deutlich."
    assert "<mark>Umsatz</mark>" in s.snippet(text, "firma umsatz quartal prozent", width=120)


def test_marks_nest_and_escape() -> None:
    mark = s.Marking(("drais",), "<b>Karl</b> & Drais.")
    html = s.highlight("<b>Karl</b> & Drais. Other.", "", marking=mark)
    assert html == (
        '<mark class="rosetta-sentence">&lt;b&gt;Karl&lt;/b&gt; &amp; <mark>Drais</mark>.</mark> Other.'
    )


def test_sentences_split_in_every_script() -> None:
    text = "First one. Second one! 第三句。第四句？ Последнее."
    assert [text[a:b] for a, b in s.sentences(text)] == [
        "First one.",
        "Second one!",
        "第三句。",
        "第四句？",
        "Последнее.",
    ]
