"""Product code uses Optuna's public API only, but for ``studies/optuna_private.py`` (issue 29:
Optuna 5.1 changed a private cache that a study view relied on, and a fresh install broke)."""

from __future__ import annotations

import ast
from pathlib import Path

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("search", "studies", "reports", "runners", "models", "spaces", "bench")
ALLOWED = {ROOT / "studies" / "optuna_private.py"}


def _private_names() -> set[str]:
    """Private members of the Optuna objects that product code holds: a study, its storage, a
    trial and a frozen trial, a sampler (single underscore, not dunder)."""
    study = optuna.create_study()
    trial = study.ask()
    objects = [study, study._storage, trial, study.trials[0], optuna.samplers.NSGAIISampler(),
               optuna.samplers.TPESampler(), optuna.storages.InMemoryStorage()]
    names = set()
    for obj in objects:
        names |= {n for n in dir(obj) if n.startswith("_") and not n.startswith("__")}
        names |= {n for n in vars(obj) if n.startswith("_") and not n.startswith("__")}
    return names


def violations(source: str, private: set[str]) -> list[str]:
    """``line: what`` for every private Optuna member that ``source`` touches: an attribute of
    that name on anything but ``self``/``cls``, or an import from a private optuna module."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and node.attr in private
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            out.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("optuna"):
            if any(part.startswith("_") for part in node.module.split(".")):
                out.append(f"{node.lineno}: from {node.module}")
            out += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Import):
            out += [f"{node.lineno}: import {a.name}" for a in node.names
                    if a.name.startswith("optuna") and any(p.startswith("_") for p in a.name.split("."))]
    return out


def test_the_scan_sees_private_members() -> None:
    private = _private_names()
    assert {"_storage", "_trial_id", "_study_id", "_get_trials"} <= private
    assert sorted(violations("study._storage.set_trial_user_attr(t._trial_id, 'k', 1)", private)) == [
        "1: ._storage", "1: ._trial_id"]
    assert violations("from optuna.samplers._ga import BaseGASampler", private) == [
        "1: from optuna.samplers._ga"]
    assert violations("self._storage = 1\nstudy.get_trials()", private) == []


@pytest.mark.parametrize("package", PRODUCT)
def test_product_code_touches_no_private_optuna_member(package: str) -> None:
    private = _private_names()
    found = {str(p.relative_to(ROOT)): v for p in sorted((ROOT / package).rglob("*.py"))
             if p not in ALLOWED and (v := violations(p.read_text(), private))}
    assert found == {}, f"private Optuna members outside studies/optuna_private.py: {found}"
