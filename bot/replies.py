"""Reply texts: campaign templates are Jinja, rendered in a sandbox.

Marketers write the templates, so they are sandboxed and strict: a misspelt
variable is an error found by `bot check`, not a blank in a customer's text.

Most reply templates are text with a `{{ code }}` or two. Those are rendered
by joining their pieces, which is what Jinja's compiled code does for them
(`str()` of each value, newlines as Jinja's lexer normalised them) without
building a render context per text; a name the caller did not pass, and every
other template, goes through Jinja.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)

#: Names Jinja gives a meaning of its own (constants, special variables): never looked up in the context.
_JINJA_NAMES = frozenset({"true", "false", "none", "True", "False", "None", "self", "loop", "varargs", "kwargs",
                          "caller"})


def plain_pieces(source: str) -> tuple[tuple[bool, str], ...] | None:
    """`source` as (is a name, literal text or name) pieces when it is only text and `{{ name }}`s, else None."""
    pieces: list[tuple[bool, str]] = []
    name: str | None = None
    inside = False
    for _, kind, value in _env.lex(source):
        if kind == "whitespace":
            continue
        if not inside and kind == "data":
            pieces.append((False, value))
        elif not inside and kind == "variable_begin":
            inside, name = True, None
        elif inside and kind == "name" and name is None and value not in _JINJA_NAMES:
            name = value
        elif inside and kind == "variable_end" and name is not None:
            pieces.append((True, name))
            inside = False
        else:
            return None
    return None if inside else tuple(pieces)


class ReplyTemplate:
    """A compiled reply template. Construction raises `TemplateError` on bad syntax."""

    def __init__(self, source: str):
        self.source = source
        self._template = _env.from_string(source)
        self._pieces = plain_pieces(source)

    def render(self, **context: Any) -> str:
        if self._pieces is not None:
            try:
                text = "".join(str(context[value]) if is_name else value for is_name, value in self._pieces)
            except KeyError:
                pass  # not passed: Jinja's own answer (a global, or StrictUndefined's error)
            else:
                return text.strip()
        return self._template.render(**context).strip()

    def __repr__(self) -> str:
        return f"ReplyTemplate({self.source!r})"


__all__ = ["ReplyTemplate", "TemplateError"]
