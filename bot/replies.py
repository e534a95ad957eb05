"""Reply texts: campaign templates are Jinja, rendered in a sandbox.

Marketers write the templates, so they are sandboxed and strict: a misspelt
variable is an error found by `bot check`, not a blank in a customer's text.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class ReplyTemplate:
    """A compiled reply template. Construction raises `TemplateError` on bad syntax."""

    def __init__(self, source: str):
        self.source = source
        self._template = _env.from_string(source)

    def render(self, **context: Any) -> str:
        return self._template.render(**context).strip()

    def __repr__(self) -> str:
        return f"ReplyTemplate({self.source!r})"


__all__ = ["ReplyTemplate", "TemplateError"]
