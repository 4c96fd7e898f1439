"""What differs between the typer versions emoret runs on.

typer 0.12 to 0.2x run on the separate ``click`` package; later versions carry their
own copy (``typer._click``), whose exceptions are other classes. typer's public
``BadParameter`` lives in whichever module is in use, so the exceptions are found
through it. Those later versions also label every parameter in ``--help`` with its
Python type (``<bool>``, ``<list[Path]>``); flags are shown bare instead, and lists by
their element type.
"""

from __future__ import annotations

import re
import sys
import types
from typing import Any

import typer

_LIST_LABEL = re.compile(r"<list\[(.+)\]>")


def click_exceptions() -> types.ModuleType:
    """The module holding the click exceptions this typer raises."""
    return sys.modules[typer.BadParameter.__module__]


def missing_option(ctx: Any, name: str) -> Exception:
    """click's own "Missing option '--NAME'" usage error for a parameter the command checks itself."""
    param = next(param for param in ctx.command.params if param.name == name)
    return click_exceptions().MissingParameter(ctx=ctx, param=param)


def plain_help_types(command: Any) -> None:
    """Show flags without a type and list parameters by their element type, in place."""
    commands = getattr(command, "commands", {})
    for sub in [command, *commands.values()]:
        if sub is not command and hasattr(sub, "commands"):
            plain_help_types(sub)
            continue
        for param in sub.params:
            _plain(param)
        sub.get_help_option = _plain_result(sub.get_help_option)  # made per run, from the context


def _plain(param: Any) -> Any:
    if hasattr(param, "display_type"):  # only typer's own parameter classes have it
        param.display_type = types.MethodType(_display_type(type(param).display_type), param)
    return param


def _plain_result(get_help_option):
    def wrapped(ctx):
        option = get_help_option(ctx)
        return None if option is None else _plain(option)

    return wrapped


def _display_type(original):
    def display_type(self, ctx) -> str | None:
        if getattr(self, "is_flag", False) and getattr(self, "is_bool_flag", True):
            return None
        label = original(self, ctx)
        match = _LIST_LABEL.fullmatch(label or "")
        if match:
            element = f"<{match.group(1).lower()}>"
            return element + "..." if self.nargs == -1 else element
        return label

    return display_type
