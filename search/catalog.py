"""The bridge from the model registry to the torch-free space validator."""

from __future__ import annotations

from typing import Any

from models import attention_catalog, get_backbone_spec
from spaces import Catalog


def _stage_names(backbone: str, settings: dict[str, Any]) -> list[str]:
    spec = get_backbone_spec(backbone)
    canonical = spec.canonical_settings(settings)
    return [s.name for s in spec.stages(canonical, 32)]


def model_catalog() -> Catalog:
    """What ``spaces.load_space`` checks a file against: the registered modules and backbones."""
    return Catalog(attention=attention_catalog(), stage_names=_stage_names)
