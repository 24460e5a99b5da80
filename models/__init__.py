"""attnas models: attention modules, backbones, ``Architecture`` and ``build_model``.

Knows nothing of Optuna or of space files on disk.
"""

from __future__ import annotations

from models.architecture import Architecture, StageChoice
from models.attention import attention_catalog, attention_names, create_attention
from models.backbones import backbone_names, get_backbone_spec
from models.build import FORMAT_VERSION, build_model, load_architecture, model_signature
from models.convs import conv_names, create_conv

__all__ = [
    "FORMAT_VERSION",
    "Architecture",
    "StageChoice",
    "attention_catalog",
    "attention_names",
    "backbone_names",
    "build_model",
    "conv_names",
    "create_conv",
    "create_attention",
    "get_backbone_spec",
    "load_architecture",
    "model_signature",
]
