"""Backbones and their registry. Importing this package registers them."""

from __future__ import annotations

from models.backbones import resnet_cifar, tv_mobilenet, tv_resnet  # noqa: F401  (registers)
from models.backbones._registry import (
    BackboneSpec,
    StageInfo,
    backbone_names,
    get_backbone_spec,
    register_backbone,
)

__all__ = ["BackboneSpec", "StageInfo", "backbone_names", "get_backbone_spec",
           "register_backbone"]
