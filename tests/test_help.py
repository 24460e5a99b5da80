"""Every command's --help shows each option's default once (issue 31: search.run printed
"(default: the space's search.n_trials) (default: None)", runners.train "(default: None)" for
its required --arch)."""

from __future__ import annotations

import argparse
import importlib

import pytest

from spaces import DefaultsOnce

COMMANDS = ["search.run", "search.export", "search.fidelity", "reports.dashboard", "runners.train",
            "runners.profile"]


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


@pytest.mark.parametrize("command", COMMANDS)
def test_each_default_is_shown_once(command: str, monkeypatch, capsys) -> None:
    def capture(self, *a, **k):
        raise _Captured(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(_Captured) as got:
        importlib.import_module(command).main(["--help"])
    parser = got.value.parser
    formatter = parser._get_formatter()
    shown = {}
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        text = formatter._expand_help(action) if action.help is not None else ""
        shown[action.option_strings[-1]] = text
        assert text.count("default") <= 1, (command, action.option_strings, text)
        assert "(default: None)" not in text and "(default: False)" not in text, (command, text)
    monkeypatch.undo()
    help_text = parser.format_help()
    assert "(default: None)" not in help_text and "(default: False)" not in help_text


def test_the_formatter_adds_a_default_only_where_the_help_lacks_one() -> None:
    p = argparse.ArgumentParser(formatter_class=DefaultsOnce)
    p.add_argument("--a", type=int, default=3, help="a number")
    p.add_argument("--b", default=None, help="b (default: the space's b)")
    p.add_argument("--c", required=True, help="c")
    p.add_argument("--d", type=int, default=0, help="a seed")  # 0 is a default, not "none"
    p.add_argument("--e", action="store_true", help="a switch")
    text = " ".join(p.format_help().split())
    assert "a number (default: 3)" in text and "b (default: the space's b)" in text
    assert "a seed (default: 0)" in text
    assert text.count("default") == 3
