"""Every module and convolution exports to ONNX and matches PyTorch in ONNX Runtime
(the `latency.backend: onnxruntime` and `search.export --onnx` paths)."""

from __future__ import annotations

import pytest

from models import Architecture, StageChoice, build_model
from models.attention import attention_names

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from runners.onnx_runtime import export_onnx, max_abs_difference  # noqa: E402

ZOO = [n for n in attention_names() if n not in ("none", "nonlocal")]


PAIRS = [(ZOO[i], ZOO[i + 1] if i + 1 < len(ZOO) else "none") for i in range(0, len(ZOO), 2)]


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_zoo_exports_and_matches(first: str, second: str, tmp_path) -> None:
    # stage1: a module on ODConv; stage2: another, after the add; stage3: non-local (7x7)
    stages = [StageChoice.create(first, conv="odconv"),
              StageChoice.create(second, position="post_add"),
              StageChoice.create("nonlocal")]
    arch = Architecture.create(backbone="resnet_cifar", backbone_args={"depth": 8, "width": 8},
                               stages=stages, in_channels=1, input_size=28, num_classes=10)
    model = build_model(arch).eval()
    path = export_onnx(model, (1, 1, 28, 28), tmp_path / "m.onnx")
    assert max_abs_difference(model, path, (1, 1, 28, 28)) < 1e-4
