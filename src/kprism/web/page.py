"""The dashboard's one page, assembled from the static files in ``kprism/web/static/``.

``index.html`` is the markup, ``dashboard.css`` the style and ``dashboard.js`` the
script: real files, so linters and editors see them (``make lint`` runs oxlint on the
script). They ship in the wheel as package data (``pyproject.toml``). At start-up
:func:`load` inlines the style and the script into the page and computes the
Content-Security-Policy from them: the browser runs only that exact script and style
(``sha256-`` hashes), loads nothing from anywhere else, and talks only to its origin.

The page keeps no release logic: it renders what ``/api/apps/NS/APP`` returns (see
:mod:`kprism.web.views`), as server-sent events of ``/api/stream`` bring it, and turns
buttons into POSTs (the risky ones after a confirmation showing what changes). Elements
the browser tests use carry ``data-testid`` attributes.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

#: The files of the page, in ``kprism/web/static/``.
TEMPLATE, STYLE, SCRIPT = "index.html", "dashboard.css", "dashboard.js"
FILES = (TEMPLATE, STYLE, SCRIPT)
#: Where the template takes the inlined style and script.
STYLE_MARK = "<!-- kprism:style -->"
SCRIPT_MARK = "<!-- kprism:script -->"


def csp_hash(text: str) -> str:
    """The CSP source that allows exactly this inline script or style."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


@dataclass(frozen=True, kw_only=True)
class Page:
    html: str  # the page as served
    csp: str  # its Content-Security-Policy header
    template: str  # index.html
    style: str  # dashboard.css
    script: str  # dashboard.js


def read(name: str) -> str:
    """One file of the page, from the installed package."""
    return (resources.files("kprism.web") / "static" / name).read_text(encoding="utf-8")


def build(template: str, style: str, script: str) -> Page:
    """The page with ``style`` and ``script`` inlined and the policy that allows only them."""
    for mark in (STYLE_MARK, SCRIPT_MARK):
        if template.count(mark) != 1:
            raise ValueError(f"{TEMPLATE} must contain {mark} exactly once")
    # an end tag inside would end the element early and leave the rest unhashed
    if "</style" in style.lower() or "</script" in script.lower():
        raise ValueError(f"{STYLE} and {SCRIPT} must not contain their element's end tag")
    html = template.replace(STYLE_MARK, f"<style>{style}</style>").replace(
        SCRIPT_MARK, f"<script>{script}</script>"
    )
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {csp_hash(script)}",
            f"style-src {csp_hash(style)}",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return Page(html=html, csp=csp, template=template, style=style, script=script)


@cache
def load() -> Page:
    """The page from the package's static files (read once; ``create_app`` calls it)."""
    return build(read(TEMPLATE), read(STYLE), read(SCRIPT))
