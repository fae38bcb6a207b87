"""The one settings object. Read at the edges (CLI, web app) and passed in as arguments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "multilingual-e5-small"


# Encoding engine; resolved in rosetta.models.backends (kept here too: settings import nothing heavy).
Backend = Literal["auto", "torch", "onnx", "onnx-int8"]

# Compute precision of encoding and training; resolved in rosetta.models.precision.
Precision = Literal["auto", "fp32", "bf16", "fp16"]


class Settings(BaseSettings):
    """Rosetta configuration; every field can be set with an env var `ROSETTA_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="ROSETTA_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".rosetta"), description="Embedded Qdrant storage, caches.")
    # Per user, not per data dir: a new ROSETTA_DATA_DIR must not rebuild a 470 MB model.
    cache_dir: Path | None = Field(None, description="Built models; default ~/.cache/rosetta/models.")
    qdrant_url: str | None = Field(None, description="Qdrant server URL; unset = embedded.")
    qdrant_api_key: str | None = None
    qdrant_prefer_grpc: bool = False
    qdrant_grpc_port: int = Field(6334, description="gRPC port (the client dials the URL's host).")
    qdrant_timeout: float = Field(30.0, gt=0)
    collection: str = "documents"
    model: str = DEFAULT_MODEL
    device: str = Field("auto", description="auto (cuda if available, else cpu), cpu, cuda, mps.")
    batch_size: int = Field(32, ge=1)
    precision: Precision = Field(
        "auto", description="Encoding precision: auto = bf16 where the CPU/GPU computes it natively."
    )
    encoder_backend: Backend = Field(
        "auto", description="torch, onnx, onnx-int8; auto = fastest that passes the quality gate here."
    )
    # New collections get the model's language vectors removed (an existing one keeps what it
    # was built with); see rosetta.models.language_vectors. Off by default: on the retrieval eval
    # it lifts mixed-pool mAP by 23 points, short of the 25 the default was conditioned on (README).
    language_neutral: bool = Field(
        False, description="Index new collections with language-neutral vectors (if the model has them)."
    )
    # Collection-creation options passed through to Qdrant (useful for a distributed cluster).
    shard_number: int | None = Field(None, ge=1)
    replication_factor: int | None = Field(None, ge=1)
    on_disk_vectors: bool = False
    scalar_quantization: bool = False
    # Web app
    allow_server_paths: bool = Field(False, description="Let the ingest page read server folders.")
    upload_max_mb: int = Field(50, ge=1)
    eval_dir: Path | None = None

    @field_validator("qdrant_url", "qdrant_api_key", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        # docker-compose passes unset variables as empty strings.
        return None if v == "" else v

    @property
    def models_dir(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        return user_cache_dir() / "models"

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def store_kind(self) -> Literal["server", "embedded"]:
        return "server" if self.qdrant_url else "embedded"


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rosetta"


def resolve_device(device: str) -> str:
    """Turn `auto` into the best available torch device name."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"
