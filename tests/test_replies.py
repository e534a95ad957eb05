"""Reply templates: the plain-text fast path answers exactly what Jinja answers."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from bot.replies import ReplyTemplate, _env, plain_pieces

CONTEXT = {"code": "T1-<&>", "slug": "spring", "count": 3, "missing": None, "program": {"name": "Acme"}}


@pytest.mark.parametrize("source", [
    "Your Acme code: {{ code }}. Show it at the till.",
    "{{code}}{{ slug }}",
    "  {{- code -}}  and {{ count }} \r\nline two\n",
    "nothing to fill in",
    "{{ missing }} is None",
    "",
])
def test_plain_templates_render_as_jinja_does(source):
    assert plain_pieces(source) is not None
    assert ReplyTemplate(source).render(**CONTEXT) == _env.from_string(source).render(**CONTEXT).strip()


@pytest.mark.parametrize("source", [
    "{{ code | upper }}", "{{ program.name }}", "{% if code %}{{ code }}{% endif %}", "{# note #}{{ code }}",
    "{{ none }}", "{{ code ~ slug }}", "{{ 'x' }}",
])
def test_anything_more_goes_through_jinja(source):
    assert plain_pieces(source) is None
    assert ReplyTemplate(source).render(**CONTEXT) == _env.from_string(source).render(**CONTEXT).strip()


def test_a_name_not_passed_is_jinjas_error_or_global():
    with pytest.raises(UndefinedError):
        ReplyTemplate("Your code: {{ cod }}").render(**CONTEXT)
    assert ReplyTemplate("{{ range }}").render() == _env.from_string("{{ range }}").render()
