"""Attention modules, one file each, and the registry that names them.

Importing this package registers every module. Each module is an ``nn.Module``
built as ``cls(channels, *, <hparams with paper defaults>)``.
"""

from __future__ import annotations

from models.attention import (  # noqa: F401  (registers)
    ca,
    cbam,
    eca,
    ese,
    gc,
    ge,
    non_local,
    none,
    se,
    simam,
    triplet,
)
from models.attention._identity import IdentityStart
from models.attention._registry import (
    AttentionSpec,
    attention_catalog,
    attention_classes,
    attention_max_positions,
    attention_names,
    create_attention,
    get_attention_spec,
    register_attention,
    unregister_attention,
)
from models.attention._width import reduced_width

__all__ = [
    "AttentionSpec",
    "IdentityStart",
    "attention_catalog",
    "attention_classes",
    "attention_max_positions",
    "attention_names",
    "create_attention",
    "get_attention_spec",
    "reduced_width",
    "register_attention",
    "unregister_attention",
]
