"""Finding a space file and reading a YAML document, with one clear error for each way it fails.

Shared by space files (``load_space``) and architecture files
(``models.load_architecture``): a missing file, a directory, an unreadable
file, bytes that are not UTF-8, invalid YAML and a key given twice in one mapping each
give one line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from errors import UserError

SPACES_DIR = Path(__file__).resolve().parent
# the architecture file's format (best.yaml, ``models.load_architecture``): written by
# ``search.export`` and the dashboard's config snippets, read by ``models``
FORMAT_VERSION = 1


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a mapping that gives one key twice is an error: PyYAML keeps
    the second silently, so ``se:`` twice under a stage or ``budget:`` twice would run a space
    other than the one the user reads."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`; an explicit key wins
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise _DuplicateKey(key, seen[key], line)
                seen[key] = line
            except TypeError:  # an unhashable key: construct_mapping reports it
                break
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: object, first: int, second: int) -> None:
        super().__init__(f"key {key!r} appears twice in one mapping (lines {first} and {second}); "
                         f"keep one")
        self.key, self.first, self.second = key, first, second


class SpaceError(UserError, ValueError):
    """A space file that cannot be used; the message lists every problem."""


def resolve_space_path(space: str | Path) -> Path:
    """A path as given, else a bare name looked up in ``spaces/``.

    Raises:
        SpaceError: found in neither place; lists the bundled spaces.
    """
    path = Path(space)
    if path.is_file():
        return path
    if path.is_dir():
        raise SpaceError(f"{path}: is a directory; give the path of a YAML space file")
    bundled = SPACES_DIR / path.name
    if not path.parent.parts and bundled.is_file():
        return bundled
    available = ", ".join(sorted(p.name for p in SPACES_DIR.glob("*.yaml")))
    raise SpaceError(
        f"space file {str(space)!r} not found (looked at {path.resolve()} and {bundled}); "
        f"give a path to a YAML space file or one of the bundled spaces: {available}"
    )


def read_yaml(path: Path, *, what: str) -> object:
    """The YAML document in ``path``, or one error naming the file and what is wrong with it.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a directory, an unreadable file, text that is not UTF-8, invalid YAML, or
            a mapping with a key given twice (both line numbers).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} not found") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory; give the path of a YAML {what}") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read the {what}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                         f"save the {what} as UTF-8") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except _DuplicateKey as e:
        raise ValueError(f"{path}: {e}") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: invalid YAML: {' '.join(str(e).split())}") from None
