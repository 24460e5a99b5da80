"""Where training runs: ``device: auto`` resolved once, with the reason said."""

from __future__ import annotations

import torch

from errors import UserError
from spaces import TRAIN_DEVICES as DEVICES


class DeviceUnavailable(UserError, RuntimeError):
    """CUDA was asked for by name and torch sees no CUDA device."""


def resolve_device(requested: str) -> tuple[torch.device, str]:
    """The training device for ``requested`` (``auto``, ``cpu`` or ``cuda``) and why, in words.

    ``auto`` picks CUDA when ``torch.cuda.is_available()``, else the CPU.

    Raises:
        DeviceUnavailable: ``cuda`` was asked for and there is none.
    """
    if requested not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {requested!r}")
    has_cuda = torch.cuda.is_available()
    if requested == "cuda" and not has_cuda:
        raise DeviceUnavailable("device cuda was asked for, but torch sees no CUDA device "
                                f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); "
                                "use --device cpu or auto")
    if requested == "cpu":
        return torch.device("cpu"), "cpu (asked for)"
    if has_cuda:
        name = torch.cuda.get_device_name(0)
        why = "asked for" if requested == "cuda" else "auto: torch sees a CUDA device"
        return torch.device("cuda"), f"cuda ({name}; {why})"
    return torch.device("cpu"), "cpu (auto: torch sees no CUDA device)"
