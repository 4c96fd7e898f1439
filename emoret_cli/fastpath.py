"""A quick parser for the command a person waits on: ``emoret search``.

typer parses through pydantic, and importing pydantic costs more than the whole numpy
query path. The parser here is built from the command's own typer signature (one
definition of the options), and handles only plain command lines: options with a value,
on/off flags, positionals. Anything else (help, an unknown or malformed option) returns
None, and the caller hands the line to typer, so every message stays typer's.
"""

from __future__ import annotations

import argparse
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SCALARS = (str, int, float, Path)


class _Unparsed(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override,unused-ignore]
        raise _Unparsed(message)


def _scalar(annotation: Any) -> type | None:
    """str / int / float / Path, also inside Optional[...]; None for anything else."""
    if annotation in _SCALARS or annotation is bool:
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union and len(args) == 1 and args[0] in _SCALARS:
        return args[0]
    return None


def build_parser(command: Callable[..., Any]) -> tuple[_Parser, list[str], dict[str, tuple[Any, Any]]] | None:
    """An argparse parser equivalent to the typer signature, the names it fills, and each
    option's (min, max) bounds; None where it cannot be."""
    from typer.models import ArgumentInfo, OptionInfo

    hints = typing.get_type_hints(command)
    parser = _Parser(add_help=False, allow_abbrev=False, prog="emoret")
    names = []
    bounds: dict[str, tuple[Any, Any]] = {}
    for name, parameter in inspect.signature(command).parameters.items():
        info = parameter.default
        kind = _scalar(hints.get(name))
        if kind is None or not isinstance(info, (ArgumentInfo, OptionInfo)):
            return None
        if getattr(info, "callback", None):
            return None  # checks typer would run: leave the line to typer
        if getattr(info, "min", None) is not None or getattr(info, "max", None) is not None:
            bounds[name] = (getattr(info, "min", None), getattr(info, "max", None))
        names.append(name)
        if isinstance(info, ArgumentInfo):
            if info.default is not ...:
                return None
            parser.add_argument(name, type=kind)
            continue
        decls = list(info.param_decls or ())
        if not decls or any("/" in d for d in decls):
            return None
        default = None if info.default is ... else info.default
        if kind is bool:
            if default is not False:
                return None
            parser.add_argument(*decls, dest=name, action="store_true")
        else:
            parser.add_argument(*decls, dest=name, type=kind, default=default)
    return parser, names, bounds


def _within(value: Any, low: Any, high: Any) -> bool:
    return value is None or ((low is None or value >= low) and (high is None or value <= high))


def parse(command: Callable[..., Any], args: list[str]) -> dict[str, Any] | None:
    """The keyword arguments typer would pass ``command`` for ``args``, or None."""
    if any(arg in ("-h", "--help") for arg in args):
        return None
    built = build_parser(command)
    if built is None:
        return None
    parser, names, bounds = built
    try:
        values = parser.parse_args(args)
    except (_Unparsed, ValueError, TypeError):
        return None
    if not all(_within(getattr(values, name), low, high) for name, (low, high) in bounds.items()):
        return None  # out of range: typer words the error
    return {name: getattr(values, name) for name in names}
