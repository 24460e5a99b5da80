"""ONNX export and ONNX Runtime latency: the latency that deployment sees.

Optional: needs the ``onnx`` extra (``pip install -e '.[onnx]'``: onnx,
onnxscript for torch's exporter, onnxruntime). Without it, these functions
raise ``OnnxUnavailable`` naming the install command.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from errors import UserError
from runners.timing import Latency, time_calls

INSTALL_HINT = "pip install -e '.[onnx]'  (onnx, onnxscript, onnxruntime)"


class OnnxUnavailable(UserError, RuntimeError):
    """The optional ONNX packages are not installed."""


def require_onnx() -> None:
    """Raise ``OnnxUnavailable`` unless onnx, onnxscript and onnxruntime import."""
    missing = []
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise OnnxUnavailable(f"ONNX export/latency needs {', '.join(missing)}: {INSTALL_HINT}")


def export_onnx(model: nn.Module, input_shape: tuple[int, ...], path: str | Path) -> Path:
    """Export ``model`` (eval mode, CPU, fixed input shape) to one ONNX file."""
    require_onnx()
    path = Path(path)
    model = model.to("cpu").eval()
    x = torch.randn(input_shape)
    with torch.no_grad():
        program = torch.onnx.export(model, (x,), dynamo=True, external_data=False, verbose=False)
    program.save(str(path))
    return path


def _session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def max_abs_difference(model: nn.Module, path: str | Path, input_shape: tuple[int, ...],
                       *, seed: int = 0) -> float:
    """Largest |PyTorch - ONNX Runtime| over the outputs for one random input."""
    require_onnx()
    x = torch.randn(input_shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = model.to("cpu").eval()(x).numpy()
    sess = _session(Path(path), 1)
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    return float(np.abs(expected - got).max())


def onnxruntime_latency(model: nn.Module, input_shape: tuple[int, ...], *, threads: int = 1,
                        baseline: nn.Module | None = None, atol: float = 1e-3,
                        **timing) -> tuple[Latency, float]:
    """Export ``model`` (and ``baseline``), check the outputs, time them in ONNX Runtime on CPU.

    Returns:
        The latency (``device="onnxruntime-cpu"``) and the max |PyTorch - ORT|
        output difference.

    Raises:
        OnnxUnavailable: the optional packages are missing.
        ValueError: the exported model's outputs differ from PyTorch's by more
            than ``atol``.
    """
    require_onnx()
    x = np.random.default_rng(0).standard_normal(input_shape, dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [export_onnx(model, input_shape, Path(tmp) / "candidate.onnx")]
        if baseline is not None:
            paths.append(export_onnx(baseline, input_shape, Path(tmp) / "baseline.onnx"))
        diff = max_abs_difference(model, paths[0], input_shape)
        if diff > atol:
            raise ValueError(f"ONNX export differs from PyTorch by {diff:.2e} (> {atol:g})")
        sessions = [_session(p, threads) for p in paths]
        feeds = [{s.get_inputs()[0].name: x} for s in sessions]
        calls = [lambda s=s, f=f: s.run(None, f) for s, f in zip(sessions, feeds, strict=True)]
        lat = time_calls(calls[0], baseline=calls[1] if len(calls) > 1 else None,
                         device="onnxruntime-cpu", batch_size=input_shape[0], threads=threads,
                         **timing)
    return lat, diff
