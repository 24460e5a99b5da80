"""Contract suite over every registered convolution (``standard``, ``odconv``)."""

from __future__ import annotations

import pytest
import torch

from models.convs import conv_names, create_conv, get_conv_spec

NAMES = conv_names()


def closed_form_params(name: str, cin: int, cout: int, k: int, hp: dict) -> int:
    """Each convolution's parameter count from its paper, written out here independently."""
    if name == "standard":
        return cout * cin * k * k
    if name == "odconv":
        n = hp["kernel_num"]
        d = max(16, round(hp["reduction"] * cin))
        heads = (d * cin + cin) + (d * cout + cout) + (d * k * k + k * k)
        return n * cout * cin * k * k + (cin * d + d) + heads + (d * n + n if n > 1 else 0)
    raise AssertionError(f"no closed form written for {name!r}")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("cin", "cout"), [(8, 8), (16, 32), (64, 64)])
@pytest.mark.parametrize("size", [1, 7, 28])
@pytest.mark.parametrize("stride", [1, 2])
def test_shape_gradients_and_params(name: str, cin: int, cout: int, size: int, stride: int) -> None:
    torch.manual_seed(0)
    conv = create_conv(name, cin, cout, 3, stride=stride, padding=1)
    x = torch.randn(2, cin, size, size, requires_grad=True)
    y = conv(x)
    side = (size + 2 - 3) // stride + 1
    assert y.shape == (2, cout, side, side)
    assert torch.isfinite(y).all()
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for pname, p in conv.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"
    expected = closed_form_params(name, cin, cout, 3, get_conv_spec(name).defaults)
    assert sum(p.numel() for p in conv.parameters()) == expected


@pytest.mark.parametrize("kernel_num", [1, 4])
def test_odconv_kernel_num_is_honoured(kernel_num: int) -> None:
    conv = create_conv("odconv", 16, 16, 3, padding=1, kernel_num=kernel_num)
    assert conv.weight.shape[0] == kernel_num * 16
    assert (conv.kernel_fc is None) == (kernel_num == 1)
    hp = {"kernel_num": kernel_num, "reduction": 0.0625}
    assert sum(p.numel() for p in conv.parameters()) == closed_form_params("odconv", 16, 16, 3, hp)


def test_odconv_kernels_differ_per_sample() -> None:
    # a dynamic convolution: the same conv gives a different effective kernel per sample
    torch.manual_seed(0)
    conv = create_conv("odconv", 8, 8, 3, padding=1).eval()
    a, b = torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6)
    together = conv(torch.cat([a, b]))
    torch.testing.assert_close(together[:1], conv(a), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(together[1:], conv(b), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_batch_of_one_channels_last_and_bf16(name: str) -> None:
    conv = create_conv(name, 16, 16, 3, padding=1).train().to(memory_format=torch.channels_last)
    x = torch.randn(1, 16, 5, 5).contiguous(memory_format=torch.channels_last)
    assert torch.isfinite(conv(x)).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(torch.randn(2, 16, 5, 5))
    assert torch.isfinite(y.float()).all()


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_seed(name: str) -> None:
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        outs.append(create_conv(name, 8, 8, 3, padding=1)(torch.ones(2, 8, 7, 7)))
    assert torch.equal(outs[0], outs[1])


def test_unknown_conv_and_bad_value_say_what_is_allowed() -> None:
    with pytest.raises(ValueError, match=r"unknown conv 'dyconv'; valid: standard, odconv"):
        create_conv("dyconv", 8, 8, 3)
    with pytest.raises(ValueError, match=r"kernel_num=2 is invalid; allowed: one of 1, 4"):
        create_conv("odconv", 8, 8, 3, kernel_num=2)


@pytest.mark.parametrize("kernel_num", [1, 4])
@pytest.mark.parametrize("stride", [1, 2])
def test_odconv_both_computations_agree(kernel_num: int, stride: int) -> None:
    torch.manual_seed(0)
    conv = create_conv("odconv", 8, 12, 3, stride=stride, padding=1, kernel_num=kernel_num)
    x = torch.randn(3, 8, 7, 7)
    torch.testing.assert_close(conv(x, path="kernels"), conv(x, path="unfold"),
                               rtol=1e-4, atol=1e-5)
