"""Ctrl-C that is not lost: a SIGINT handler that remembers the request as well as raising it.

Python's own handler raises KeyboardInterrupt in whatever code runs when the signal is
handled. When that is a finalizer or a weakref callback (``__del__``, SQLAlchemy's
``_collection_gced``, run by the garbage collector at any allocation), the interpreter
prints "Exception ignored in ..." and goes on: the Ctrl-C is gone, and a search with trials
left keeps running (seen in CI: the Ctrl-C test's search ran on past its 60 s). This handler
raises the same way, so Ctrl-C still stops a training at once, and also sets a flag that the
search reads where it can stop cleanly (``raise_if_requested``): as each trial starts, before
each training (``search.training.train_seed``: the search's and the confirmation's), before
each confirmation job and in the parent's wait for ``--jobs`` workers; the interpreter's
"Exception ignored" report of that KeyboardInterrupt is not printed. Imports nothing heavy:
``search.run`` installs it before torch and Optuna load.
"""

from __future__ import annotations

import signal
import sys
import threading

_requested = False
_previous_hook = sys.unraisablehook  # the report that anything else gets


def _on_sigint(signum: int, frame) -> None:
    global _requested
    _requested = True
    signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt


def _unraisable(info) -> None:
    """The interpreter's report of an exception it could not raise: silent for the
    KeyboardInterrupt of a Ctrl-C this module remembered (the search stops at its next check,
    and says so), the hook it replaced for anything else."""
    if not (_requested and isinstance(info.exc_value, KeyboardInterrupt)):
        _previous_hook(info)


def catch_interrupts() -> None:
    """Install the handler for this process (from its main thread) with no request pending;
    each run of ``search.run.main`` and each worker process starts so."""
    global _requested, _previous_hook
    _requested = False
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)
        if sys.unraisablehook is not _unraisable:
            _previous_hook, sys.unraisablehook = sys.unraisablehook, _unraisable


def requested() -> bool:
    """Whether Ctrl-C came since ``catch_interrupts``, raised or not."""
    return _requested


def raise_if_requested() -> None:
    """Raise KeyboardInterrupt when a Ctrl-C came and its raise may have been swallowed."""
    if _requested:
        raise KeyboardInterrupt
