"""Command-line options made from configuration dataclasses: one flag per field, its default and help from it.

A field at ``path`` (names from the root dataclass down, e.g. ``("physics", "windows", "window")``)
becomes the flag ``--window`` (:func:`option_name` of its own name, or of its ``metadata["flag"]``: the
optimizer's ``name`` is ``--optimizer``), typed and defaulted as the field, with the help of its
``metadata["help"]`` and its default; a boolean field becomes ``--flag/--no-flag``. :func:`config_from_args`
builds the root dataclass back from the parsed flags, so every setting is validated where it is defined,
before any work starts. The library names a setting that cannot work by its field
(:class:`phymo.data.ConfigError`); :func:`option_name` is how the command line names it instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence

Path_ = tuple[str, ...]


def _field(cls: type, path: Path_) -> tuple[dataclasses.Field, type, object]:
    """The dataclass field at ``path`` below ``cls``, its value type and its default."""
    for name in path[:-1]:
        cls = typing.get_type_hints(cls)[name]
    field = {f.name: f for f in dataclasses.fields(cls)}[path[-1]]
    kind = typing.get_type_hints(cls)[path[-1]]
    if isinstance(kind, types.UnionType):  # X | None
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    return field, kind, default


def option_name(setting: str) -> str:
    """The command-line option of a setting (``max_deviation`` -> ``--max-deviation``)."""
    return "--" + setting.replace("_", "-")


def _dest(path: Path_) -> str:
    return "__".join(path)


def add_options(parser: argparse.ArgumentParser, root: type, paths: Sequence[Path_]) -> None:
    """Add one flag per field ``path`` of dataclass ``root`` (see the module docstring)."""
    for path in paths:
        field, kind, default = _field(root, path)
        text = field.metadata.get("help", "")
        name = field.metadata.get("flag", path[-1])
        flag, dest = option_name(name), _dest(path)
        if kind is bool:
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=default,
                                help=f"{text} (default: {'on' if default else 'off'})")
        else:
            shown = "" if default is None else f" (default: {default})"
            parser.add_argument(flag, dest=dest, type=kind, default=default, metavar=name.upper(),
                                help=text + shown)


def config_from_args(cls: type, args: argparse.Namespace, paths: Sequence[Path_], **fixed):
    """Dataclass ``cls`` with the fields at ``paths`` taken from ``args`` (parsed by :func:`add_options`) and
    the top-level fields ``fixed``; raises the dataclasses' own ``ConfigError`` for a value that cannot work."""
    tree: dict = {}
    for path in paths:
        node = tree
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = getattr(args, _dest(path))

    def build(cls: type, values: dict):
        hints = typing.get_type_hints(cls)
        kwargs = {k: build(hints[k], v) if isinstance(v, dict) else v for k, v in values.items()}
        return cls(**kwargs)

    return build(cls, {**tree, **fixed})
