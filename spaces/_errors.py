"""Schema problems as lines a person reads: the key path, the value and what is allowed, with a
did-you-mean for near-miss names (``did_you_mean``, the one copy)."""

from __future__ import annotations

import copy
import difflib
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from spaces._files import SpaceError
from spaces._schema import SpaceConfig

M = typing.TypeVar("M", bound=BaseModel)


def did_you_mean(word: str, allowed: Iterable[str]) -> str:
    """`` (did you mean 'se'?)`` for the closest of ``allowed`` to ``word``; empty when none is close."""
    near = difflib.get_close_matches(word, list(allowed), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names allowed at ``loc`` (the parent of an unknown key)."""
    tp: Any = SpaceConfig
    for part in loc:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            tp = _unwrap_optional(field.annotation) if field else None
        elif typing.get_origin(tp) is dict:
            tp = _unwrap_optional(typing.get_args(tp)[1])
        elif typing.get_origin(tp) is list and isinstance(part, int):
            tp = _unwrap_optional(typing.get_args(tp)[0])
        else:
            return []
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _pydantic_problems(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            hint = did_you_mean(str(loc[-1]), allowed)
            problems.append(f"{_fmt_loc(loc)}: unknown key{hint}; allowed: {', '.join(allowed)}")
        elif e["type"] == "missing":
            problems.append(f"{_fmt_loc(loc)}: required key is missing")
        else:
            problems.append(f"{_fmt_loc(loc)}: {e['msg']}; got {e['input']!r}")
    return problems


def _drop(raw: Any, loc: tuple[Any, ...]) -> bool:
    """Delete the deepest mapping key on ``loc`` from ``raw`` (so its default applies); False if
    nothing on the path could be deleted."""
    node, last = raw, None
    for part in loc:
        if isinstance(node, dict) and part in node:
            last = (node, part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]  # into a list item (a rung): its keys can be dropped
        else:
            break
    if last is None:
        return False
    del last[0][last[1]]
    return True


def validate_what_can_be(raw: dict, problems: list[str]) -> SpaceConfig | None:
    """The schema's problems, and a config with the offending keys left out (their defaults
    in place), so that the registry checks still run on the rest: a file with a negative
    epoch count and an unknown module gets both lines. None when no such config exists
    (a required key is missing or wrong)."""
    data = copy.deepcopy(raw)
    for _ in range(4):
        try:
            return SpaceConfig.model_validate(data)
        except ValidationError as e:
            if not problems:
                problems += _pydantic_problems(e)
            if not all([_drop(data, tuple(err["loc"])) for err in e.errors()]):
                return None
    return None


def read_back(model: type[M], stored: typing.Mapping[str, Any], *, what: str) -> M:
    """``stored`` (a block this or another version of attnas wrote: a study's space, an
    architecture file's searched budget) validated as ``model``: keys this version does not
    know are ignored, so a file from another version still reads; every default comes from
    the schema.

    Raises:
        SpaceError: a stored value this version refuses, naming ``what`` and the key.
    """
    data = copy.deepcopy(dict(stored))
    while True:
        try:
            return model.model_validate(data)
        except ValidationError as e:
            unknown = [tuple(err["loc"]) for err in e.errors() if err["type"] == "extra_forbidden"]
            if not unknown or len(unknown) < e.error_count():
                first = next(err for err in e.errors() if err["type"] != "extra_forbidden")
                raise SpaceError(f"{what} does not validate with this version of attnas "
                                 f"({_fmt_loc(tuple(first['loc']))}: {first['msg']})") from None
            for loc in unknown:
                _drop(data, loc)
