"""Trainings in child processes: a crash fails that training with its reason, and the search
goes on (issue 29).

A segmentation fault in a native kernel, an abort, or the kernel's out-of-memory killer takes
the whole process with it; a search that trained in its own process died with exit 139 and no
message, its running trial left RUNNING. ``TrainingPool`` keeps ``size`` long-lived children
(spawned: a fresh interpreter, no forked torch state), each running one call at a time at the
thread count the caller gives. Arguments and results travel through a pipe by pickling, tensors
through shared memory (``torch.multiprocessing``'s reductions), so the proxy data is not copied
per training. A child that dies becomes ``TrainingCrashed`` naming the signal or exit code, and
is replaced at the next call; an exception raised in the child is raised again in the caller.

A child costs one interpreter start with torch (about 2 s here), once per pool, not per call
(BENCHMARKS.md, "Trainings in a child process"). On CUDA calls run in the caller's process:
sharing device tensors between processes is not verified on a GPU yet. ``ATTNAS_TRAIN_IN_PROCESS=1``
runs every call in the caller too (for a debugger or a profiler); a crash then ends the process.
"""

from __future__ import annotations

import atexit
import os
import signal
import warnings
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

import torch
import torch.multiprocessing as tmp


class TrainingCrashed(RuntimeError):
    """The process running a training died (a signal or an exit without a result)."""


def in_process() -> bool:
    """Whether ``ATTNAS_TRAIN_IN_PROCESS`` asks for trainings in the caller's own process."""
    return os.environ.get("ATTNAS_TRAIN_IN_PROCESS", "") not in ("", "0")


_WARNED: set[str] = set()


def importable_in_child(classes: tuple[type, ...]) -> bool:
    """Whether a fresh interpreter can import every class (by module and name); warns once for
    each one it cannot: a class made inside a function or in ``__main__`` trains in this process,
    where a crash of its training ends the search."""
    ok = True
    for cls in classes:
        if "<locals>" in cls.__qualname__ or cls.__module__ == "__main__":
            ok = False
            if cls.__qualname__ not in _WARNED:
                _WARNED.add(cls.__qualname__)
                warnings.warn(f"{cls.__module__}.{cls.__qualname__} is registered at run time where a "
                              "training process cannot import it: architectures with it train in "
                              "this process, and a crash of such a training ends the search; define "
                              "it at the top level of an importable module", RuntimeWarning,
                              stacklevel=3)
    return ok


_SIGNALS = {signal.SIGSEGV: "a segmentation fault in native code",
            signal.SIGBUS: "a bus error in native code",
            signal.SIGABRT: "an abort in native code",
            signal.SIGKILL: "killed (the out-of-memory killer, or kill -9)",
            signal.SIGTERM: "terminated"}


def describe_exit(code: int | None) -> str:
    """A dead child's exit code in words: ``SIGSEGV (a segmentation fault in native code)``."""
    if code is None:
        return "an unknown cause"
    if code < 0:
        try:
            sig = signal.Signals(-code)
        except ValueError:
            return f"signal {-code}"
        return f"{sig.name} ({_SIGNALS.get(sig, 'a signal')})"
    return f"exit code {code} without a result"


def _serve(conn: Connection) -> None:
    """A child's loop: receive ``(fn, args, kwargs, threads)``, reply ``(ok, result or error)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            fn, args, kwargs, threads = conn.recv()
        except EOFError:  # the parent has gone
            return
        except BaseException as e:  # e.g. the function's module does not import here
            conn.send((False, RuntimeError(f"the training process could not read the call: "
                                           f"{type(e).__name__}: {e}")))
            continue
        torch.set_num_threads(threads)
        try:
            reply: tuple[bool, Any] = (True, fn(*args, **kwargs))
        except BaseException as e:
            reply = (False, e)
        try:
            conn.send(reply)
        except Exception as e:  # an unpicklable result or exception
            conn.send((False, RuntimeError(f"{type(e).__name__} sending the result back: {e}")))


class _Child:
    def __init__(self) -> None:
        ctx = tmp.get_context("spawn")
        self.conn, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(theirs,), daemon=True, name="attnas-training")
        self.proc.start()
        theirs.close()

    def send(self, fn: Callable, args: tuple, kwargs: dict, threads: int) -> None:
        self.conn.send((fn, args, kwargs, threads))

    def receive(self) -> Any:
        """The reply to the last call; ``TrainingCrashed`` if the child died before it."""
        try:
            ok, value = self.conn.recv()
        except (EOFError, ConnectionResetError, OSError):
            self.proc.join(timeout=10)
            raise TrainingCrashed(
                f"the training process died: {describe_exit(self.proc.exitcode)}") from None
        if not ok:
            raise value
        return value

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=10)
        self.conn.close()


class TrainingPool:
    """``size`` child processes that run calls one at a time each; see the module docstring."""

    def __init__(self, size: int = 1) -> None:
        if size < 1:
            raise ValueError(f"a training pool needs at least 1 process, got {size}")
        self.size = size
        self._children: list[_Child | None] = [None] * size

    def _child(self, i: int) -> _Child:
        child = self._children[i]
        if child is None or not child.proc.is_alive():
            if child is not None:
                child.kill()
            child = self._children[i] = _Child()
        return child

    def call(self, fn: Callable, *args: Any, threads: int | None = None, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a child (module-level ``fn``: it is sent by name).

        Raises:
            TrainingCrashed: the child died before it replied.
            BaseException: what ``fn`` raised in the child.
        """
        ((_, out),) = self.map_unordered(fn, [(args, kwargs)], threads=threads)
        if isinstance(out, BaseException):
            raise out
        return out

    def map_unordered(self, fn: Callable, calls: Iterable[tuple[tuple, dict]], *,
                      threads: int | None = None) -> Iterator[tuple[int, Any]]:
        """``(index, result or exception)`` for each call of ``fn``, as each finishes, at most
        ``size`` at a time. ``calls`` is read lazily, one call whenever a child is free, so a
        generator can stop handing out work (a time budget). An exception (``TrainingCrashed``
        included) is yielded, not raised, so one failed call does not lose the others; on Ctrl-C
        (or when the caller stops reading) the busy children are killed, their calls lost."""
        threads = threads or torch.get_num_threads()
        todo = iter(enumerate(calls))
        busy: dict[int, int] = {}  # child slot -> call index
        more = True
        try:
            while True:
                for slot in range(self.size):
                    if more and slot not in busy:
                        nxt = next(todo, None)
                        if nxt is None:
                            more = False
                            break
                        index, (args, kwargs) = nxt
                        self._child(slot).send(fn, args, kwargs, threads)
                        busy[slot] = index
                if not busy:
                    return
                children = {s: self._children[s] for s in busy}
                ready = set(wait([c.conn for c in children.values()]  # type: ignore[union-attr]
                                 + [c.proc.sentinel for c in children.values()]))  # type: ignore[union-attr]
                for slot, child in children.items():
                    assert child is not None
                    if child.conn not in ready and child.proc.sentinel not in ready:
                        continue
                    index = busy.pop(slot)
                    try:
                        out = child.receive()
                    except TrainingCrashed as e:
                        self._children[slot] = None
                        out = e
                    except Exception as e:  # noqa: BLE001 - what fn raised: the caller's to handle
                        out = e
                    yield index, out
        except BaseException:
            for slot in busy:  # their calls are lost: a child never runs two calls at once
                child = self._children[slot]
                if child is not None:
                    child.kill()
                self._children[slot] = None
            raise

    def close(self) -> None:
        for i, child in enumerate(self._children):
            if child is not None:
                child.kill()
                self._children[i] = None


_POOLS: dict[int, TrainingPool] = {}


def pool(size: int = 1) -> TrainingPool:
    """This process's pool of ``size`` children (made once, closed at exit)."""
    if size not in _POOLS:
        _POOLS[size] = TrainingPool(size)
    return _POOLS[size]


@atexit.register
def _close_pools() -> None:
    for p in _POOLS.values():
        p.close()
