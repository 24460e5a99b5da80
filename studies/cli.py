"""The command-line face shared by every command that opens an existing study.

``python -m reports.dashboard``, ``python -m search.export`` and
``python -m search.fidelity`` take the same ``--study``/``--storage`` pair and
answer a missing study, an unusable storage or an impossible request the same
way: one ``error:`` line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import optuna

from errors import UserError
from spaces import DefaultsOnce
from studies.storage import load_existing_study

USER_ERRORS: tuple[type[Exception], ...] = (UserError,)  # StudyNotFound, PickError, ...


def study_parser(prog: str, description: str, **kwargs) -> argparse.ArgumentParser:
    """A parser with ``--study`` (required) and ``--storage``; add the command's own options."""
    kwargs.setdefault("formatter_class", DefaultsOnce)
    parser = argparse.ArgumentParser(prog=prog, description=description, **kwargs)
    parser.add_argument("--study", required=True, help="study name")
    parser.add_argument("--storage", default=None,
                        help="storage URL (default: runs/<study>/study.db or study.journal)")
    return parser


def run_on_study(args: argparse.Namespace, body: Callable[[optuna.Study], int], *,
                 errors: tuple[type[Exception], ...] = ()) -> int:
    """Open ``args.study`` and return ``body(study)``; a missing study, a pick that matches
    nothing or any of ``errors`` is one ``error:`` line and exit code 2."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return body(load_existing_study(args.study, args.storage))
    except (*USER_ERRORS, *errors) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
