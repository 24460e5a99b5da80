"""The bridge from the model registry to the torch-free space validator."""

from __future__ import annotations

from typing import Any

from models import Architecture, StageChoice, attention_catalog, get_backbone_spec
from models.attention import attention_max_positions
from models.convs import conv_catalog
from models.pretrained import WeightsError, is_weights_name, load_pretrained, resolve_weights
from spaces import BackboneFacts, Catalog, Pretrained, StageFacts


def _backbone_facts(backbone: str, settings: dict[str, Any], size: int) -> BackboneFacts:
    spec = get_backbone_spec(backbone)
    canonical = spec.canonical_settings(settings)
    return BackboneFacts(
        stages=tuple(StageFacts(s.name, s.resolution) for s in spec.stages(canonical, size)),
        positions=spec.positions,
        convs=spec.convs,
        freezable=spec.parts is not None,
    )


def _weights(backbone: str, settings: dict[str, Any], weights: str, channels: int) -> Pretrained:
    """The weights a space names, found and loaded once into the plain backbone: what does not
    fit is an error before the search starts (``models.pretrained.WeightsError``)."""
    pretrained = resolve_weights(backbone, weights)
    spec = get_backbone_spec(backbone)
    canonical = spec.canonical_settings(settings)
    if is_weights_name(weights) and canonical.get("stem") == "small":
        # torchvision's weights are trained with the ImageNet stem (MobileNetV2's stem has the
        # same shapes at either stride, so no key check would see it)
        raise WeightsError(f"torchvision's {weights} weights were trained with the ImageNet stem; "
                           f"use stem: imagenet with them (stem: small is for weights trained that way)")
    stages = [StageChoice()] * len(spec.stages(canonical, 32))  # the size does not change a tensor
    plain = Architecture.create(backbone=backbone, backbone_args=canonical, stages=stages,
                                in_channels=channels, input_size=32, num_classes=2)
    load_pretrained(spec.build(plain), pretrained)
    return pretrained


def model_catalog() -> Catalog:
    """What ``spaces.load_space`` checks a file against: the registered modules and backbones."""
    return Catalog(attention=attention_catalog(), convs=conv_catalog(),
                   max_positions=attention_max_positions(), backbone=_backbone_facts, weights=_weights)
