"""attnas models: attention modules, backbones, ``Architecture``, ``build_model`` and the
architecture file (``models.arch_file``: ``best.yaml`` dumped and loaded).

Knows nothing of Optuna or of space files on disk.
"""

from __future__ import annotations

from models.arch_file import architecture_document, load_architecture, searched_budget, write_architecture
from models.architecture import Architecture, StageChoice
from models.attention import attention_catalog, attention_names, create_attention
from models.backbones import backbone_names, get_backbone_spec
from models.build import build_model, model_signature
from models.convs import conv_names, create_conv
from spaces import FORMAT_VERSION

__all__ = [
    "FORMAT_VERSION",
    "Architecture",
    "StageChoice",
    "architecture_document",
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
    "searched_budget",
    "write_architecture",
]
