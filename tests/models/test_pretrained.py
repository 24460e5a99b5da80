"""A backbone started from trained weights: loading, fitting, and attention that starts as the
identity (issue 33)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from models import Architecture, StageChoice, build_model, get_backbone_spec
from models.attention import IdentityStart, attention_names, get_attention_spec
from models.convs.odconv import ODConv2d
from models.pretrained import PRETRAINED_ATTR, WeightsError, resolve_weights
from spaces import fits_positions

# small torchvision-sized inputs: the identity must hold for every module at every stage
BACKBONES = {
    "resnet18": ({"stem": "small"}, 3, 16),
    "mobilenet_v2": ({"width": 0.35, "stem": "small"}, 3, 16),
    "resnet_cifar": ({"depth": 8, "width": 8}, 1, 16),
}


def _trained(backbone: str, tmp_path: Path) -> Path:
    """A plain backbone with random weights and BatchNorm statistics made non-trivial, saved as
    ``torch.save(model.state_dict(), PATH)`` -- the stand-in of a trained network."""
    args, channels, size = BACKBONES[backbone]
    spec = get_backbone_spec(backbone)
    plain = Architecture.create(backbone=backbone, backbone_args=args,
                                stages=[StageChoice()] * len(spec.stages(spec.canonical_settings(args), size)),
                                in_channels=channels, input_size=size, num_classes=7)
    torch.manual_seed(1)
    model = build_model(plain)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    path = tmp_path / f"{backbone}.pt"
    torch.save(model.state_dict(), path)
    return path


def _arch(backbone: str, weights, choice_for) -> Architecture:
    args, channels, size = BACKBONES[backbone]
    spec = get_backbone_spec(backbone)
    infos = spec.stages(spec.canonical_settings(args), size)
    return Architecture.create(backbone=backbone, backbone_args=args, stages=[choice_for(i) for i in infos],
                               in_channels=channels, input_size=size, num_classes=5, weights=weights)


def _logits(model: nn.Module, channels: int, size: int) -> torch.Tensor:
    torch.manual_seed(3)
    with torch.no_grad():
        return model.eval()(torch.randn(4, channels, size, size))


def _cases():
    for backbone in BACKBONES:
        spec = get_backbone_spec(backbone)
        for name in attention_names():
            if name != "none":
                for position in spec.positions:
                    yield backbone, name, position


@pytest.mark.parametrize(("backbone", "name", "position"), list(_cases()))
def test_every_module_at_every_position_starts_as_the_identity(backbone, name, position, tmp_path) -> None:
    weights = resolve_weights(backbone, str(_trained(backbone, tmp_path)))
    limit = get_attention_spec(name).max_positions

    def choice(info):  # the module wherever it fits (non-local is limited to small maps)
        fits = fits_positions(info.resolution, limit)
        return StageChoice.create(name if fits else "none", position=position)

    arch = _arch(backbone, weights, choice)
    with_modules = build_model(arch, seed=0)
    wrapped = [m for m in with_modules.modules() if isinstance(m, IdentityStart)]
    assert wrapped and all(isinstance(m.module, get_attention_spec(name).cls) for m in wrapped)
    plain = build_model(arch.without_attention(), seed=0)
    _, channels, size = BACKBONES[backbone]
    diff = (_logits(with_modules, channels, size) - _logits(plain, channels, size)).abs().max().item()
    assert diff <= 1e-5
    # ...and the plain network is the file's: its body is what was saved, its head is new
    saved = torch.load(weights.path, weights_only=True)
    own = plain.state_dict()
    head = [n for n, m in plain.named_modules() if isinstance(m, nn.Linear)][-1]
    assert all(torch.equal(own[k], v) for k, v in saved.items() if not k.startswith(head) and k in own
               and v.shape == own[k].shape)
    assert own[f"{head}.weight"].shape[0] == 5


@pytest.mark.parametrize("backbone", ["resnet18", "resnet_cifar"])
def test_odconv_in_place_of_a_trained_convolution_starts_as_that_convolution(backbone, tmp_path) -> None:
    weights = resolve_weights(backbone, str(_trained(backbone, tmp_path)))
    arch = _arch(backbone, weights, lambda info: StageChoice.create("se", conv="odconv"))
    model = build_model(arch, seed=0)
    convs = [m for m in model.modules() if isinstance(m, ODConv2d)]
    assert convs and all(m.gate_scale == 2.0 for m in convs)
    _, channels, size = BACKBONES[backbone]
    diff = (_logits(model, channels, size) - _logits(build_model(arch.without_attention(), seed=0),
                                                     channels, size)).abs().max().item()
    assert diff <= 1e-5


def test_a_training_step_moves_the_new_modules_and_the_body_at_its_own_rate(tmp_path) -> None:
    from runners.trainer import TrainBudget, param_groups

    weights = resolve_weights("resnet_cifar", str(_trained("resnet_cifar", tmp_path)))
    model = build_model(_arch("resnet_cifar", weights, lambda info: StageChoice.create("se")), seed=0)
    pretrained = getattr(model, PRETRAINED_ATTR)
    names = dict(model.named_parameters())
    assert any(n.endswith(".scale") for n in names) and not any(n.endswith(".scale") for n in pretrained)
    assert "stem.0.weight" in pretrained and not any(n.startswith("fc.") for n in pretrained)
    budget = TrainBudget(lr=0.1, finetune={"pretrained_lr": 0.01})
    groups = param_groups(model, budget, torch.device("cpu"), graphed=False)
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert all(rate[id(names[n])] == pytest.approx(0.01) for n in pretrained)
    assert {rate[id(p)] for n, p in names.items() if n not in pretrained} == {0.1}
    before = {n: p.detach().clone() for n, p in names.items()}
    opt = torch.optim.SGD(groups, lr=0.1)
    for _ in range(2):  # the first step moves the scales, the second the modules behind them
        opt.zero_grad()
        nn.functional.cross_entropy(model.train()(torch.randn(8, 1, 16, 16)),
                                    torch.randint(0, 5, (8,))).backward()
        opt.step()
    moved = {n for n, p in names.items() if not torch.equal(p, before[n])}
    assert any(n.endswith(".scale") for n in moved)
    assert any(".module.fc1." in n for n in moved)  # SE's own weights
    assert "stem.0.weight" in moved


def test_weights_that_do_not_fit_name_the_file_and_the_keys(tmp_path) -> None:
    other = _trained("resnet_cifar", tmp_path)
    with pytest.raises(WeightsError) as e:
        build_model(_arch("resnet18", resolve_weights("resnet18", str(other)), lambda i: StageChoice()))
    msg = str(e.value)
    assert str(other) in msg and "missing from the file, first conv1.weight" in msg
    assert "not in the model" in msg


def test_a_7x7_stem_file_into_the_small_stem_says_which_stem_fits(tmp_path) -> None:
    torch.manual_seed(0)
    import torchvision

    path = tmp_path / "imagenet-stem.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(WeightsError, match=r"conv1.weight \(64, 3, 7, 7\) in the file.*use stem: imagenet"):
        build_model(_arch("resnet18", resolve_weights("resnet18", str(path)), lambda i: StageChoice()))


def test_a_missing_file_and_a_missing_hub_entry_say_where_they_looked(tmp_path, monkeypatch) -> None:
    with pytest.raises(WeightsError, match="no such file"):
        resolve_weights("resnet18", str(tmp_path / "nope.pt"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    with pytest.raises(WeightsError) as e:
        resolve_weights("resnet18", "IMAGENET1K_V1")
    msg = str(e.value)
    assert str(tmp_path / "hub" / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in msg
    assert "never downloads" in msg
    with pytest.raises(WeightsError, match="has no weights 'IMAGENET9K'"):
        resolve_weights("resnet18", "IMAGENET9K")


def test_a_hub_cache_file_is_used_where_it_is(tmp_path, monkeypatch) -> None:
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    cached = tmp_path / "hub" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), cached)
    weights = resolve_weights("resnet18", "IMAGENET1K_V1")
    assert weights.path == str(cached) and weights.source == "IMAGENET1K_V1"
    model = build_model(Architecture.create(backbone="resnet18", backbone_args={"stem": "imagenet"},
                                            stages=[StageChoice()] * 4, in_channels=1, input_size=32,
                                            num_classes=3, weights=weights))
    # the RGB stem summed over its colours for grey images (timm's adapt_input_conv)
    saved = torch.load(cached, weights_only=True)["conv1.weight"]
    assert torch.allclose(model.conv1.weight, saved.sum(dim=1, keepdim=True))


def test_a_changed_weights_file_is_refused_and_the_key_names_the_weights(tmp_path) -> None:
    path = _trained("resnet_cifar", tmp_path)
    weights = resolve_weights("resnet_cifar", str(path))
    arch = _arch("resnet_cifar", weights, lambda i: StageChoice())
    assert f"weights={weights.sha256[:12]}" in arch.key()
    assert Architecture.from_dict(arch.to_dict()) == arch
    torch.save({"state_dict": torch.load(path, weights_only=True)}, path)  # same tensors, other bytes
    with pytest.raises(WeightsError, match="the weights file changed"):
        build_model(arch)
    again = resolve_weights("resnet_cifar", str(path))  # a checkpoint holding one under state_dict
    build_model(_arch("resnet_cifar", again, lambda i: StageChoice()))
