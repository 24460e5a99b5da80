"""Contract suite over every registered attention module."""

from __future__ import annotations

import pytest
import torch

from models.attention import attention_names, create_attention, get_attention_spec, reduced_width
from models.attention.eca import eca_kernel_size
from models.hparams import OneOf

NAMES = attention_names()


def closed_form_params(name: str, c: int, hp: dict) -> int:
    """Each module's parameter count from its paper, written out here independently."""
    if name == "none":
        return 0
    if name == "se":
        h = max(4, round(c / hp["reduction"]))
        return c * h + h + h * c + c
    if name == "eca":
        return eca_kernel_size(c) if hp["kernel_size"] == "auto" else hp["kernel_size"]
    if name == "gc":
        h = max(4, round(c * hp["ratio"]))
        return (c + 1) + (c * h + h) + 2 * h + (h * c + c)
    if name == "ca":
        m = max(8, round(c / hp["reduction"]))
        return (c * m + m) + 2 * m + 2 * (m * c + c)
    if name == "cbam":  # shared MLP with biases; spatial k x k conv (no bias) + BN(1)
        h = max(4, round(c / hp["reduction"]))
        return (c * h + h) + (h * c + c) + 2 * hp["kernel_size"] ** 2 + 2
    if name == "nonlocal":  # theta, phi, g: C -> m; W_z: m -> C, then BN(C)
        m = max(4, round(c / hp["reduction"]))
        return 3 * (c * m + m) + (m * c + c) + 2 * c
    if name in ("simam", "ge"):  # parameter-free
        return 0
    if name == "triplet":  # three branches: 2 -> 1 k x k conv (no bias) + BN(1)
        return 3 * (2 * hp["kernel_size"] ** 2 + 2)
    if name == "ese":  # one C -> C FC with bias
        return c * c + c
    raise AssertionError(f"no closed form written for {name!r}")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [8, 16, 64, 256])
@pytest.mark.parametrize("size", [1, 7, 28])
def test_shape_gradients_and_params(name: str, channels: int, size: int) -> None:
    torch.manual_seed(0)
    module = create_attention(name, channels)
    x = torch.randn(2, channels, size, size, requires_grad=True)
    y = module(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for pname, p in module.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"
    spec = get_attention_spec(name)
    expected = closed_form_params(name, channels, spec.defaults)
    assert sum(p.numel() for p in module.parameters()) == expected


@pytest.mark.parametrize("name", NAMES)
def test_batch_of_one_in_training_mode_and_channels_last(name: str) -> None:
    module = create_attention(name, 16).train()
    x = torch.randn(1, 16, 5, 5).contiguous(memory_format=torch.channels_last)
    assert torch.isfinite(module(x)).all()


@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast(name: str) -> None:
    module = create_attention(name, 16).train()
    x = torch.randn(2, 16, 7, 7, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = module(x)
    assert y.shape == x.shape and torch.isfinite(y.float()).all()
    y.float().sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_seed(name: str) -> None:
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        module = create_attention(name, 32)
        outs.append(module(torch.ones(2, 32, 7, 7)))
    assert torch.equal(outs[0], outs[1])


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown attention 'sse'; valid: none, ca, cbam, eca"):
        create_attention("sse", 16)


def test_unknown_hparam_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"attention 'se' has no hyper-parameter 'ratio'; valid: reduction"):
        create_attention("se", 16, ratio=4)


@pytest.mark.parametrize(("name", "hp", "msg"), [
    ("se", {"reduction": 0}, r"reduction=0 is invalid; allowed: an integer in \[1, 256\]"),
    ("eca", {"kernel_size": 4}, r"kernel_size=4 is invalid; allowed: an odd integer >= 1 or \"auto\""),
    ("gc", {"ratio": 16}, r"ratio=16 is invalid; allowed: a number in \(0, 1\]"),
    ("gc", {"fusion": "concat"}, r"fusion='concat' is invalid; allowed: one of 'add', 'mul'"),
])
def test_invalid_value_says_what_is_allowed(name: str, hp: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        create_attention(name, 16, **hp)


def test_no_width_collapses_on_narrow_stages() -> None:
    # the textbook C // r gives 1 or 0 here
    assert reduced_width(16, 16) == 4
    assert reduced_width(16, 32) == 4
    assert create_attention("se", 16, reduction=32).fc1.out_channels == 4
    assert create_attention("ca", 16, reduction=32).conv1.out_channels == 8


def test_eca_kernel_auto_never_one_and_given_kernel_is_honoured() -> None:
    assert eca_kernel_size(4) == 3
    assert eca_kernel_size(256) == 5
    assert create_attention("eca", 256, kernel_size=3).conv.kernel_size == (3,)


def test_gc_ratio_is_a_fraction() -> None:
    gc = create_attention("gc", 256, ratio=0.25)
    assert gc.transform[0].out_channels == 64


@pytest.mark.parametrize("name", [n for n in NAMES if get_attention_spec(n).hparams])
def test_every_hparam_value_changes_the_module(name: str) -> None:
    spec = get_attention_spec(name)
    examples = {"reduction": [4, 16], "kernel_size": [3, 5], "ratio": [0.0625, 0.25],
                "fusion": ["add", "mul"], "lam": [1e-4, 0.1]}
    for h in spec.hparams:
        a, b = h.domain.values[:2] if isinstance(h.domain, OneOf) else examples[h.name]
        ma = create_attention(name, 256, **{h.name: a})
        mb = create_attention(name, 256, **{h.name: b})
        shapes_a = [tuple(p.shape) for p in ma.state_dict().values()]
        shapes_b = [tuple(p.shape) for p in mb.state_dict().values()]
        assert shapes_a != shapes_b or repr(ma) != repr(mb), f"{name}.{h.name} changes nothing"


def test_simam_is_finite_on_one_position_and_neutral_there() -> None:
    x = torch.randn(2, 8, 1, 1)
    y = create_attention("simam", 8)(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, x * torch.sigmoid(torch.tensor(0.5)))


def test_nonlocal_declares_its_position_limit() -> None:
    assert get_attention_spec("nonlocal").max_positions == 256
    assert all(get_attention_spec(n).max_positions is None for n in NAMES if n != "nonlocal")


def test_ge_extent_larger_than_the_map_is_global() -> None:
    x = torch.randn(2, 8, 3, 3)
    torch.testing.assert_close(create_attention("ge", 8, extent=8)(x),
                               create_attention("ge", 8, extent="global")(x))


def test_cbam_and_triplet_kernel_sizes_reach_their_convs() -> None:
    assert create_attention("cbam", 16, kernel_size=3).spatial[0].kernel_size == (3, 3)
    assert create_attention("triplet", 16, kernel_size=5).hw.conv.kernel_size == (5, 5)
