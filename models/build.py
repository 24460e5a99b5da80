"""``build_model``: from an ``Architecture`` value to an ``nn.Module``."""

from __future__ import annotations

import dataclasses
import hashlib

import torch
from torch import nn

from models.architecture import Architecture
from models.attention import get_attention_spec
from models.backbones import get_backbone_spec
from models.pretrained import (
    PARTS_ATTR,
    PRETRAINED_ATTR,
    load_pretrained,
    pretrained_names,
    start_from_plain,
    wrap_attention,
)
from models.shared_init import candidate_seed, shared_init
from spaces import fits_positions


def build_model(arch: Architecture, *, seed: int | None = None, load_weights: bool = True) -> nn.Module:
    """Build the model that ``arch`` describes.

    With ``seed``, the initialisation is shared (common random numbers): the
    backbone's weights are those of the plain backbone built from ``seed``,
    whatever attention modules or convolutions ``arch`` chose, and the modules
    come from a stream of their own (``models.shared_init``). Two architectures
    built with the same seed differ only where they differ. Without ``seed``
    the global random state is used, in construction order.

    Raises:
        ValueError: unknown backbone, invalid settings, a stage list whose
            length differs from the backbone's stage count, a position or a
            convolution choice the backbone does not offer, or a module in a
            stage with more positions than the module allows.
        WeightsError: ``arch.weights`` gone, changed, or not fitting (a ``ValueError``).

    With ``arch.weights`` the backbone starts from them and every module starts as the
    identity (``models.pretrained``); ``load_weights=False`` builds the same network without
    reading the file, for a state dict trained from it (``runners.train.load_trained``).

    Example:
        >>> build_model(load_architecture("runs/attention-placement/best.yaml"))
    """
    spec = get_backbone_spec(arch.backbone)
    settings = spec.canonical_settings(dict(arch.backbone_args))
    # build from the checked settings with their defaults filled in, never the raw ones
    arch = dataclasses.replace(arch, backbone_args=tuple(sorted(settings.items())))
    stages = spec.stages(settings, arch.input_size)
    if len(arch.stages) != len(stages):
        raise ValueError(
            f"backbone {arch.backbone!r} has {len(stages)} stages "
            f"({', '.join(s.name for s in stages)}); got {len(arch.stages)} stage choices"
        )
    for info, choice in zip(stages, arch.stages, strict=True):
        where = f"backbone {arch.backbone!r}, stage {info.name}"
        if choice.attention != "none" and choice.position not in spec.positions:
            raise ValueError(f"{where}: position {choice.position!r} is not offered; "
                             f"allowed: {', '.join(spec.positions)}")
        if choice.conv != "standard" and not spec.convs:
            raise ValueError(f"{where}: no convolution choice (its 3x3 convolutions are "
                             f"depthwise); got {choice.conv!r}, allowed: standard")
        limit = get_attention_spec(choice.attention).max_positions
        if not fits_positions(info.resolution, limit):
            raise ValueError(f"{where}: {choice.attention!r} is limited to H*W <= {limit}; this "
                             f"stage has {info.resolution}x{info.resolution} positions")
    if arch.weights is not None:
        return _from_weights(spec, arch, seed, load_weights)
    if seed is None:
        return spec.build(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        plain = spec.build(arch.without_attention())
        torch.manual_seed(candidate_seed(seed))
        model = spec.build(arch)
    return shared_init(plain, model)


def _from_weights(spec, arch: Architecture, seed: int | None, load: bool) -> nn.Module:
    """The candidate started from ``arch.weights``, computing at step 0 what the plain trained
    network computes (``models.pretrained``); ``seed`` draws the new head and modules."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        plain = spec.build(arch.without_attention())
        if load:
            load_pretrained(plain, arch.weights)
        if seed is not None:
            torch.manual_seed(candidate_seed(seed))
        model = shared_init(plain, spec.build(arch), replaced=start_from_plain)
    wrap_attention(model)
    setattr(model, PRETRAINED_ATTR, pretrained_names(model))
    setattr(model, PARTS_ATTR, spec.parts(dict(arch.backbone_args)) if spec.parts else None)
    return model


def model_signature(model: nn.Module) -> str:
    """A hash of the module tree and every parameter shape.

    Two architectures with the same signature build the same network (e.g. two
    reduction ratios that both hit the minimum width on a narrow stage); the
    search trains only one of them.
    """
    h = hashlib.sha1(repr(model).encode())
    for name, p in model.state_dict().items():
        h.update(f"{name}:{tuple(p.shape)};".encode())
    return h.hexdigest()[:16]
