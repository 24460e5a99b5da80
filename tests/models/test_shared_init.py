"""Common random numbers: the backbone's initial weights do not depend on the attention choice."""

from __future__ import annotations

import pytest
import torch

from models import Architecture, StageChoice, build_model
from models.attention.se import SqueezeExcite
from models.shared_init import copy_backbone_weights

BACKBONES = [  # (name, settings, stages, positions): one per way a backbone inserts a module
    ("resnet_cifar", {"depth": 8, "width": 8}, 3, ("pre_add", "post_add")),
    ("resnet18", {"stem": "small"}, 4, ("pre_add", "post_add")),
    ("mobilenet_v2", {"width": 0.35, "stem": "small"}, 5, ("after_dw", "pre_add", "post_add")),
]


def make(backbone: str, settings: dict, stages: list[StageChoice]) -> Architecture:
    return Architecture.create(backbone=backbone, backbone_args=settings, stages=stages,
                               in_channels=1, input_size=16, num_classes=10)


@pytest.mark.parametrize(("backbone", "settings", "n", "positions"), BACKBONES,
                         ids=[b[0] for b in BACKBONES])
def test_same_seed_same_backbone_weights_whatever_the_attention(backbone, settings, n, positions) -> None:
    plain = build_model(make(backbone, settings, [StageChoice()] * n), seed=7)
    total = sum(t.numel() for t in plain.state_dict().values())
    for position in positions:
        arch = make(backbone, settings, [StageChoice.create("se", {"reduction": 4}, position=position)] * n)
        a, b = build_model(arch, seed=7), build_model(arch, seed=8)
        # every tensor of the plain seed-7 network has a place in the candidate ...
        assert copy_backbone_weights(plain, b) == total, position
        # ... and after copying, the seed-8 candidate equals the seed-7 one exactly there: the
        # backbone tensors agree, the attention modules (their own stream) do not
        same = sum(x.numel() for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
                   if torch.equal(x, y))
        assert same == total, position
        differ = [k for (k, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True)
                  if not torch.equal(x, y)]
        inside = [n for n, m in a.named_modules() if isinstance(m, SqueezeExcite)]
        assert differ and all(any(k.startswith(f"{m}.") for m in inside) for k in differ), differ


def test_different_seeds_different_weights_and_attention_from_its_own_stream() -> None:
    se = make("resnet_cifar", {"depth": 8, "width": 8}, [StageChoice.create("se")] * 3)
    a, b = build_model(se, seed=0), build_model(se, seed=1)
    assert not torch.equal(a.stem[0].weight, b.stem[0].weight)
    assert not torch.equal(next(a.stages[0][0].attention.parameters()),
                           next(b.stages[0][0].attention.parameters()))
    # the same seed rebuilds the same network, attention included
    c = build_model(se, seed=0)
    for x, y in zip(a.state_dict().values(), c.state_dict().values(), strict=True):
        assert torch.equal(x, y)


def test_stage_one_module_does_not_shift_later_backbone_weights() -> None:
    """The failure shared initialisation removes: without it, a module in stage 1 changes the
    initial weights of every later layer."""
    plain = make("resnet_cifar", {"depth": 8, "width": 8}, [StageChoice()] * 3)
    first = make("resnet_cifar", {"depth": 8, "width": 8}, [StageChoice.create("se"), StageChoice(), StageChoice()])
    torch.manual_seed(0)
    unshared_plain = build_model(plain)
    torch.manual_seed(0)
    unshared_first = build_model(first)
    assert not torch.equal(unshared_plain.fc.weight, unshared_first.fc.weight)
    assert torch.equal(build_model(plain, seed=0).fc.weight, build_model(first, seed=0).fc.weight)
    assert torch.equal(build_model(plain, seed=0).fc.weight, unshared_plain.fc.weight)


def test_replaced_convolution_keeps_its_own_initialisation() -> None:
    plain = make("resnet_cifar", {"depth": 8, "width": 8}, [StageChoice()] * 3)
    od = make("resnet_cifar", {"depth": 8, "width": 8},
              [StageChoice.create("none", conv="odconv"), StageChoice(), StageChoice()])
    p, o = build_model(plain, seed=0), build_model(od, seed=0)
    assert torch.equal(p.stem[0].weight, o.stem[0].weight)
    assert torch.equal(p.stages[2][0].conv1.weight, o.stages[2][0].conv1.weight)
    assert not hasattr(o.stages[0][0].conv1, "weight") or o.stages[0][0].conv1.weight.shape != p.stages[0][0].conv1.weight.shape
