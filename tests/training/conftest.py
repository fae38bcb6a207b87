"""Tiny parallel data in the real formats for the training tests (models_dir, encoder: tests/conftest.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

PAIRS = {
    "deu": [
        ("The cat sleeps on the sofa.", "Die Katze schläft auf dem Sofa."),
        ("I like to drink coffee in the morning.", "Ich trinke morgens gern Kaffee."),
        ("The train is late again.", "Der Zug hat wieder Verspätung."),
        ("My brother lives in Berlin.", "Mein Bruder wohnt in Berlin."),
        ("It is raining today.", "Heute regnet es."),
        ("Where is the train station?", "Wo ist der Bahnhof?"),
        ("She reads a book every week.", "Sie liest jede Woche ein Buch."),
        ("The children play in the garden.", "Die Kinder spielen im Garten."),
        ("We are going to the cinema tonight.", "Wir gehen heute Abend ins Kino."),
        ("This soup is too hot.", "Diese Suppe ist zu heiß."),
        ("He forgot his umbrella.", "Er hat seinen Regenschirm vergessen."),
        ("The shop closes at six.", "Der Laden schließt um sechs."),
    ],
    "spa": [
        ("The cat sleeps on the sofa.", "El gato duerme en el sofá."),
        ("I like to drink coffee in the morning.", "Me gusta tomar café por la mañana."),
        ("The train is late again.", "El tren llega tarde otra vez."),
        ("My brother lives in Madrid.", "Mi hermano vive en Madrid."),
        ("It is raining today.", "Hoy está lloviendo."),
        ("Where is the train station?", "¿Dónde está la estación de tren?"),
        ("She reads a book every week.", "Ella lee un libro cada semana."),
        ("The children play in the garden.", "Los niños juegan en el jardín."),
        ("We are going to the cinema tonight.", "Esta noche vamos al cine."),
        ("This soup is too hot.", "Esta sopa está demasiado caliente."),
        ("He forgot his umbrella.", "Olvidó su paraguas."),
        ("The shop closes at six.", "La tienda cierra a las seis."),
    ],
}


def write_tsv(path: Path, rows: list[tuple[str, str]], extra_lines: list[str] | None = None) -> Path:
    lines = [f"{en}\t{tr}" for en, tr in rows] + (extra_lines or [])
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def parallel_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "parallel"
    folder.mkdir()
    for lang, rows in PAIRS.items():
        write_tsv(folder / f"en-{lang}.tsv.gz", rows)
    return folder
