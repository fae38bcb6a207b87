"""Tatoeba bitext retrieval (LASER test set): each non-English sentence → nearest English one."""

from __future__ import annotations

from pathlib import Path

from training.langs import tatoeba_code


def tatoeba_languages(data_dir: Path) -> list[str]:
    folder = data_dir / "tatoeba"
    return sorted({p.name.split(".")[1].split("-")[0] for p in folder.glob("tatoeba.*-eng.eng")})


def load_tatoeba(data_dir: Path, lang: str) -> tuple[list[str], list[str]]:
    """(non-English sentences, English sentences), line-aligned."""
    code = tatoeba_code(lang)
    base = data_dir / "tatoeba" / f"tatoeba.{code}-eng"
    src_path, eng_path = Path(f"{base}.{code}"), Path(f"{base}.eng")
    if not src_path.exists() or not eng_path.exists():
        raise FileNotFoundError(f"no Tatoeba files for {code}: {src_path}, {eng_path}")
    src = src_path.read_text(encoding="utf-8").splitlines()
    eng = eng_path.read_text(encoding="utf-8").splitlines()
    if len(src) != len(eng):
        raise ValueError(f"Tatoeba {code}: {len(src)} vs {len(eng)} lines; files must be line-aligned")
    return src, eng
