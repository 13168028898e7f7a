"""Small helpers for the browser tests (test code only)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Locator, Page, expect


def console_problems(kind: str, text: str) -> list[str]:
    """Console errors worth failing a test for. Chromium logs every HTTP error response
    ("Failed to load resource ... status of 400"); the API answers bad input with 400 on
    purpose, so those are not problems. Anything else is (script errors, CSP refusals)."""
    if kind != "error":
        return []
    if text.startswith("Failed to load resource: the server responded with a status of 4"):
        return []
    return [f"console {kind}: {text}"]


def tid(page: Page, testid: str) -> Locator:
    return page.get_by_test_id(testid)


def accept(page: Page, reason: str = "") -> None:
    """Accept the confirmation dialog a button opened (after typing ``reason``)."""
    expect(tid(page, "confirm")).to_be_visible()
    if reason:
        tid(page, "confirm-reason").fill(reason)
    tid(page, "confirm-ok").click()
    expect(tid(page, "confirm")).to_be_hidden()


def mark_document(page: Page) -> None:
    """Tag the loaded document: :func:`same_document` fails if the page was reloaded."""
    page.evaluate("window.__kprismTestMark = 'still here'")


def same_document(page: Page) -> bool:
    value: Any = page.evaluate("window.__kprismTestMark")
    return value == "still here"
