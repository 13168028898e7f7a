"""The dashboard page from its static files: assembled at start-up, the CSP computed from
what is inlined, and the files shipped as package data."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from kprism.web import page

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "kprism" / "web" / "static"


def test_the_page_inlines_its_files_and_allows_only_them() -> None:
    p = page.load()
    assert p.html.count("<style>") == 1 and p.html.count("<script>") == 1
    assert f"<style>{p.style}</style>" in p.html
    assert f"<script>{p.script}</script>" in p.html
    assert page.STYLE_MARK not in p.html and page.SCRIPT_MARK not in p.html
    policy = dict(d.split(" ", 1) for d in p.csp.split("; "))
    assert policy["script-src"] == page.csp_hash(p.script)
    assert policy["style-src"] == page.csp_hash(p.style)
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'self'"
    # a changed file changes the policy: nothing else would be allowed to run
    other = page.build(p.template, p.style, p.script + "\n")
    assert page.csp_hash(p.script) not in other.csp


def test_the_page_loads_nothing_from_elsewhere() -> None:
    html = page.load().html
    assert not re.search(r"https?://", html)
    for attr in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert attr.startswith(("data:", "#")), attr
    assert " style=" not in html  # inline style attributes would need 'unsafe-inline'
    assert not re.search(r"\son[a-z]+=", html)  # so would inline event handlers


@pytest.mark.parametrize(
    ("template", "style", "script", "error"),
    [
        ("<!-- kprism:script -->", "", "", "kprism:style"),
        ("<!-- kprism:style --><!-- kprism:style --><!-- kprism:script -->", "", "", "once"),
        ("<!-- kprism:style --><!-- kprism:script -->", "", "x = '</script>'", "end tag"),
        ("<!-- kprism:style --><!-- kprism:script -->", "a{}</STYLE>", "", "end tag"),
    ],
)
def test_a_broken_template_fails_at_start_up(
    template: str, style: str, script: str, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        page.build(template, style, script)


def test_every_static_testid_the_script_uses_is_on_the_page() -> None:
    p = page.load()
    used = set(re.findall(r'tid\("([a-z0-9-]+)"', p.script))
    present = set(re.findall(r'data-testid="([a-z0-9-]+)"', p.template))
    made_by_script = set(re.findall(r'testid: "([a-z0-9-]+)"', p.script))
    assert used, "the script finds elements by data-testid"
    assert used - present - made_by_script == set()


def test_the_static_files_ship_in_the_wheel() -> None:
    """A non-editable install gets exactly what setuptools' package-data names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["kprism"]
    files = sorted(p.relative_to(STATIC.parent.parent).as_posix() for p in STATIC.iterdir())
    assert {f.rsplit("/", 1)[-1] for f in files} == set(page.FILES)
    for f in files:
        assert any(fnmatch(f, pat) for pat in patterns), f"{f} is not package data"
