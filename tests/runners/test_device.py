"""``device: auto`` and an explicit device that is not there."""

from __future__ import annotations

import pytest
import torch

from runners.device import DeviceUnavailable, resolve_device


def test_auto_without_a_gpu_is_the_cpu_and_says_why(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == (torch.device("cpu"), "cpu (auto: torch sees no CUDA device)")
    assert resolve_device("cpu") == (torch.device("cpu"), "cpu (asked for)")


def test_cuda_by_name_without_a_gpu_is_one_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailable, match="device cuda was asked for, but torch sees no CUDA "
                                                 "device .*use --device cpu or auto"):
        resolve_device("cuda")


def test_an_unknown_device_names_the_choices() -> None:
    with pytest.raises(ValueError, match="one of auto, cpu, cuda; got 'tpu'"):
        resolve_device("tpu")
