"""The bridge from the model registry to the torch-free space validator."""

from __future__ import annotations

from typing import Any

from models import attention_catalog, get_backbone_spec
from models.attention import attention_max_positions
from models.convs import conv_catalog
from spaces import BackboneFacts, Catalog, StageFacts


def _backbone_facts(backbone: str, settings: dict[str, Any], size: int) -> BackboneFacts:
    spec = get_backbone_spec(backbone)
    canonical = spec.canonical_settings(settings)
    return BackboneFacts(
        stages=tuple(StageFacts(s.name, s.resolution) for s in spec.stages(canonical, size)),
        positions=spec.positions,
        convs=spec.convs,
    )


def model_catalog() -> Catalog:
    """What ``spaces.load_space`` checks a file against: the registered modules and backbones."""
    return Catalog(attention=attention_catalog(), convs=conv_catalog(),
                   max_positions=attention_max_positions(), backbone=_backbone_facts)
