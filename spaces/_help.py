"""The help text of every command: each option's default shown once."""

from __future__ import annotations

import argparse


class DefaultsOnce(argparse.HelpFormatter):
    """Shows an option's default once: ``(default: X)`` is added only where the help does not
    say its default already, and never for a required option or one whose default is None or
    False (argparse's ArgumentDefaultsHelpFormatter printed "(default: the space's seed)
    (default: None)")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.required or action.default is None or action.default is False  # 0 is a default to show
                or action.default is argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"
