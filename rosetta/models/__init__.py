"""Model layer: offline model registry, the e5 converter, and the Encoder."""

from rosetta.models.encoder import Encoder, ModelIdentity
from rosetta.models.registry import KNOWN_MODELS, ModelNotFoundError, build_model, resolve

__all__ = ["KNOWN_MODELS", "Encoder", "ModelIdentity", "ModelNotFoundError", "build_model", "resolve"]
