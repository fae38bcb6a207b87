"""README.md and docs/deployment.md stay in step with the settings and the compose file they describe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from rosetta.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "deployment.md"
README = REPO / "README.md"

DOCUMENTED_SETTINGS = [
    "qdrant_url",
    "qdrant_api_key",
    "qdrant_prefer_grpc",
    "qdrant_timeout",
    "collection",
    # passed through to Qdrant at collection creation (distributed mode)
    "shard_number",
    "replication_factor",
    "on_disk_vectors",
    "scalar_quantization",
]


def readme_configuration() -> str:
    text = README.read_text()
    return text[text.index("## Configuration") : text.index("\n## ", text.index("## Configuration") + 1)]


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme_table(name: str) -> None:
    variable = f"ROSETTA_{name.upper()}"
    assert f"`{variable}`" in readme_configuration(), f"README's Configuration table lacks {variable}"


@pytest.mark.parametrize("name", DOCUMENTED_SETTINGS)
def test_documented_setting_exists_and_is_documented(name: str) -> None:
    assert name in Settings.model_fields, f"docs/deployment.md documents a setting Rosetta lacks: {name}"
    assert f"ROSETTA_{name.upper()}" in DOC.read_text()


def test_doc_names_the_pinned_qdrant_image() -> None:
    image = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["qdrant"]["image"]
    mentioned = set(re.findall(r"qdrant/qdrant:v[\d.]+\d", DOC.read_text()))
    assert mentioned == {image}, f"docs mention {mentioned}, compose pins {image}"


def test_doc_mentions_the_server_test_switch() -> None:
    assert "ROSETTA_TEST_QDRANT_URL" in DOC.read_text()
