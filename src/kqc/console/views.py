"""Rendering pages: the Jinja2 templates beside this module, autoescaped
(every value a template shows is HTML-escaped unless the code marks it safe,
and lab text never is), with the filters the pages share.

Times are shown in UTC and say so (21 CFR 11.50(a)(2): the date and time of
a signature; one zone for every reader of the record).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from kqc.core.identity import may

TEMPLATES = Path(__file__).with_name("templates")

# The links of the header: (path, label, what the role must be allowed, or
# None when every signed-in role may follow it).
NAV = (
    ("/", "Decisions", None),
    ("/findings", "Findings", None),
    ("/inbox", "Inbox", None),
    ("/users", "Users", "manage_users"),
)


def utc(value: object) -> str:
    """A timestamp as `2025-01-31 14:02:09 UTC` (naive ones are UTC already)."""
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


def number(value: object) -> str:
    """A figure as the lab would read it: up to 4 significant digits."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass(frozen=True)
class Views:
    env: jinja2.Environment

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)

    def response(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.render(template, **context), status_code=status_code)


def make_views() -> Views:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc"] = utc
    env.filters["number"] = number
    env.globals["may"] = may
    env.globals["NAV"] = NAV
    return Views(env)
