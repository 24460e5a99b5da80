"""Every backbone: its stages are what it says, and every stage choice builds, trains and
changes the model."""

from __future__ import annotations

import itertools

import pytest
import torch

from models import Architecture, StageChoice, build_model, model_signature
from models.attention import attention_names
from models.backbones import backbone_names, get_backbone_spec

BACKBONES = backbone_names()
# ResNet-34 runs ResNet-18's code path (BasicBlock, the same insertion) with more blocks: its
# sweeps run with -m slow; the default run keeps one backbone per code path
SWEPT = [pytest.param(b, marks=pytest.mark.slow) if b == "resnet34" else b for b in BACKBONES]
SMALL = {"resnet_cifar": {"depth": 8, "width": 8}, "mobilenet_v2": {"width": 0.35}}
MODULES = [n for n in attention_names() if n != "none"]


def make(backbone: str, stages: list[StageChoice] | None = None, *, size: int = 16,
         **settings) -> Architecture:
    spec = get_backbone_spec(backbone)
    canonical = spec.canonical_settings({**SMALL.get(backbone, {}), **settings})
    n = len(spec.stages(canonical, size))
    return Architecture.create(backbone=backbone, backbone_args=canonical,
                               stages=stages or [StageChoice()] * n, in_channels=1,
                               input_size=size, num_classes=10)


def train_step(arch: Architecture) -> None:
    model = build_model(arch).train()
    x = torch.randn(2, 1, arch.input_size, arch.input_size)
    model(x).logsumexp(dim=1).sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("size", [16, 28, 32])
def test_declared_stages_match_the_built_model(backbone: str, size: int) -> None:
    # an SE module before the add of each stage's last block sees that stage's output
    spec = get_backbone_spec(backbone)
    arch = make(backbone, size=size)
    infos = spec.stages(dict(arch.backbone_args), size)
    choice = StageChoice.create("se", position="pre_add", blocks="last")
    model = build_model(make(backbone, [choice] * len(infos), size=size)).eval()
    seen = []
    for m in model.modules():
        if type(m).__name__ == "SqueezeExcite":
            m.register_forward_hook(lambda mod, inp, out: seen.append(tuple(inp[0].shape[1:])))
    with torch.no_grad():
        model(torch.zeros(1, 1, size, size))
    assert seen == [(s.channels, s.resolution, s.resolution) for s in infos]


@pytest.mark.parametrize("backbone", SWEPT)
def test_every_placement_builds_trains_and_changes_the_model(backbone: str) -> None:
    """Every (position, blocks) in the first and the last stage builds a different network (the
    first has no downsampling block, the others do: the middle stages repeat the last's code
    path, and every stage is built by test_every_module_runs_in_every_backbone); one per
    position trains."""
    spec = get_backbone_spec(backbone)
    plain = make(backbone)
    base = model_signature(build_model(plain))
    modules = itertools.cycle(MODULES)
    n = len(plain.stages)
    for stage, position, blocks in itertools.product(sorted({0, n - 1}), spec.positions,
                                                     ("all", "first", "last")):
        stages = list(plain.stages)
        stages[stage] = StageChoice.create(next(modules), position=position, blocks=blocks)
        arch = make(backbone, stages)
        assert model_signature(build_model(arch)) != base, f"{arch.short()} changes nothing"
        if blocks == "all" and stage == n - 1:
            train_step(arch)


@pytest.mark.parametrize("backbone", SWEPT)
def test_every_module_runs_in_every_backbone(backbone: str) -> None:
    spec = get_backbone_spec(backbone)
    n = len(make(backbone).stages)
    for module in MODULES:
        stages = [StageChoice.create(module, position=spec.positions[0], blocks="last")] * n
        train_step(make(backbone, stages, size=8))


@pytest.mark.parametrize("backbone", [b for b in BACKBONES if get_backbone_spec(b).convs])
def test_a_conv_choice_replaces_the_3x3_convs(backbone: str) -> None:
    plain = make(backbone)
    for stage in range(len(plain.stages)):
        stages = list(plain.stages)
        stages[stage] = StageChoice.create("none", conv="odconv", conv_hparams={"kernel_num": 1})
        arch = make(backbone, stages)
        model = build_model(arch)
        assert model_signature(model) != model_signature(build_model(plain))
        assert any(type(m).__name__ == "ODConv2d" for m in model.modules())
    train_step(arch)


def test_mobilenet_refuses_a_conv_choice_and_resnets_refuse_after_dw() -> None:
    plain = make("mobilenet_v2")
    stages = [StageChoice.create("none", conv="odconv")] + list(plain.stages[1:])
    with pytest.raises(ValueError, match=r"stage stage1: no convolution choice .*depthwise"):
        build_model(make("mobilenet_v2", stages))
    stages = [StageChoice.create("se", position="after_dw")] * 4
    with pytest.raises(ValueError, match=r"position 'after_dw' is not offered; allowed: pre_add, post_add"):
        build_model(make("resnet18", stages))


@pytest.mark.parametrize("backbone", BACKBONES)
def test_wrong_number_of_stage_choices_names_the_stage_count(backbone: str) -> None:
    n = len(make(backbone).stages)
    with pytest.raises(ValueError, match=rf"has {n} stages .*got {n + 1} stage choices"):
        build_model(make(backbone, [StageChoice()] * (n + 1)))


def test_nonlocal_is_refused_where_the_stage_is_too_large() -> None:
    stages = [StageChoice.create("nonlocal"), StageChoice(), StageChoice(), StageChoice()]
    with pytest.raises(ValueError, match=r"stage layer1: 'nonlocal' is limited to H\*W <= 256; "
                                         r"this stage has 28x28 positions"):
        build_model(make("resnet18", stages, size=28))
    build_model(make("resnet18", stages, size=16))  # 16x16 = 256 is allowed


def test_small_stem_is_stated_and_imagenet_stem_keeps_torchvision_s() -> None:
    small = build_model(make("resnet18", size=32))
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, torch.nn.Identity)
    assert dict(make("resnet18").backbone_args)["stem"] == "small"  # written into every config
    big = build_model(make("resnet18", size=64, stem="imagenet"))
    assert big.conv1.kernel_size == (7, 7) and isinstance(big.maxpool, torch.nn.MaxPool2d)


def test_architecture_with_conv_round_trips() -> None:
    stages = [StageChoice.create("cbam", {"kernel_size": 3}, blocks="last", conv="odconv"),
              StageChoice.create("ge", {"extent": 2}, position="post_add"),
              StageChoice.create("none", conv="odconv", conv_hparams={"kernel_num": 1})]
    arch = make("resnet_cifar", stages)
    assert Architecture.from_dict(arch.to_dict()) == arch
    assert arch.short() == ("cbam(r=16,k=3)[last]+odconv(n=4,ratio=0.0625)|ge(e=2)@post|"
                            "odconv(n=1,ratio=0.0625)")
