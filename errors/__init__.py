"""``UserError``: the one base of every error a person running attnas can cause and fix.

The bottom of the import graph beside ``stats``: it imports nothing, so that every package
(``runners.latency_profile`` on a device with neither torch nor pydantic included) can derive
its errors from it."""

from __future__ import annotations


class UserError(Exception):
    """Something the user gave or asked for cannot be done: a missing file, a wrong key, an
    impossible value, a device that is not there. The message names what was wrong and what is
    allowed; a command prints it as one ``error:`` line and exits 2, with no traceback
    (``search.run``, ``runners.train``, ``runners.profile``, ``studies.cli``). Each subclass
    also derives from the built-in exception it was before (``ValueError``, ``LookupError``,
    ``RuntimeError``), so code that catches those keeps working."""
