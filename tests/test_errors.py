"""One base for every error a user can cause (errors.UserError), each still the built-in
exception it was, and each command's boundary turning it into one line and exit 2."""

from __future__ import annotations

import pytest

from errors import UserError
from models.pretrained import WeightsError
from runners.checkpoint import CheckpointMismatch
from runners.data import DatasetError, DatasetNotFound
from runners.device import DeviceUnavailable
from runners.latency_profile import ProfileError
from runners.onnx_runtime import OnnxUnavailable
from spaces import SpaceError
from studies import PickError, StorageUnavailable
from studies.storage import StudyNotFound

USER_ERRORS = {SpaceError: ValueError, WeightsError: ValueError, CheckpointMismatch: ValueError,
               DatasetError: ValueError, DatasetNotFound: RuntimeError, DeviceUnavailable: RuntimeError,
               ProfileError: ValueError, OnnxUnavailable: RuntimeError, PickError: ValueError,
               StudyNotFound: LookupError, StorageUnavailable: LookupError}


@pytest.mark.parametrize(("cls", "builtin"), USER_ERRORS.items(), ids=lambda c: getattr(c, "__name__", ""))
def test_every_user_error_has_the_one_base_and_keeps_its_builtin(cls, builtin) -> None:
    assert issubclass(cls, UserError) and issubclass(cls, builtin)


def test_run_search_raises_and_main_prints_one_line(tmp_path, monkeypatch, capsys) -> None:
    import argparse

    from search.pipeline import run_search
    from search.run import build_parser, main

    monkeypatch.chdir(tmp_path)
    args: argparse.Namespace = build_parser().parse_args(["--space", "nope.yaml"])
    with pytest.raises(SpaceError, match="nope.yaml"):
        run_search(args, start=0.0)
    assert main(["--space", "nope.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and err.count("\n") >= 1
