"""``http``: one HTTP request per measurement; the status code, then the body, decide.

Settings::

    provider:
      http:
        url: http://{{service}}.{{namespace}}:8080/healthz
        method: GET                 # or POST (default GET)
        headers: {X-Token: abc}
        body: '{"check": "deep"}'   # POST only
        expectedCodes: [200]        # default: any 2xx
        jsonPath: $.checks[0].ok    # the value the conditions see (a JSON body)
        regex: 'errors=(\\d+)'       # or: the first group (or the match) of the body
        timeout: 5s                 # default 10s

A status code outside ``expectedCodes`` is a Failed measurement; a refused connection or
a timeout is an Error (the evaluator's ``consecutiveErrorLimit`` decides). Without
``jsonPath`` or ``regex`` the conditions see the body as JSON when it is JSON, as text
otherwise; without conditions the status code alone decides.

JSONPath here is the common subset: ``$``, ``.key``, ``['key']``, ``[index]`` (negative
counts from the end) and ``[*]`` (every item, giving a list).
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from kprism.analysis.base import (
    MeasureContext,
    ProviderBase,
    Settings,
    check_timeout,
    http_client,
)
from kprism.errors import InvalidSpecError
from kprism.model.analysis import Measurement, MeasurementPhase
from kprism.model.durations import Duration

MAX_BODY = 1 << 20  # bytes of a response body read at most


class JsonPathError(ValueError):
    pass


_SEGMENT = re.compile(
    r"""\.(?P<key>[A-Za-z_][A-Za-z0-9_\-]*)
      | \[\s*(?P<index>-?\d+)\s*\]
      | \[\s*(?P<star>\*)\s*\]
      | \[\s*'(?P<sq>[^']*)'\s*\]
      | \[\s*"(?P<dq>[^"]*)"\s*\]
      | \.(?P<dotstar>\*)""",
    re.VERBOSE,
)


def parse_json_path(path: str) -> list[str | int | None]:
    """``$.a['b'][0][*]`` → ``["a", "b", 0, None]`` (None: every item)."""
    text = path.strip()
    if not text.startswith("$"):
        raise JsonPathError(f"{path!r} must start with $")
    parts: list[str | int | None] = []
    pos = 1
    while pos < len(text):
        m = _SEGMENT.match(text, pos)
        if m is None:
            raise JsonPathError(f"{path!r}: cannot read {text[pos:]!r} (at character {pos + 1})")
        if m["key"] is not None:
            parts.append(m["key"])
        elif m["index"] is not None:
            parts.append(int(m["index"]))
        elif m["sq"] is not None or m["dq"] is not None:
            parts.append(m["sq"] if m["sq"] is not None else m["dq"])
        else:
            parts.append(None)
        pos = m.end()
    return parts


def json_path(doc: Any, path: str) -> Any:
    """The value at ``path`` in ``doc``; JsonPathError when it is not there."""
    values = [doc]
    spread = False
    for part in parse_json_path(path):
        nxt: list[Any] = []
        for v in values:
            if part is None:
                if isinstance(v, list):
                    nxt.extend(v)
                elif isinstance(v, Mapping):
                    nxt.extend(v.values())
                else:
                    raise JsonPathError(f"{path}: [*] of a {type(v).__name__}")
            elif isinstance(part, int):
                if not isinstance(v, list) or not -len(v) <= part < len(v):
                    raise JsonPathError(f"{path}: no item [{part}]")
                nxt.append(v[part])
            else:
                if not isinstance(v, Mapping) or part not in v:
                    raise JsonPathError(f"{path}: no key {part!r}")
                nxt.append(v[part])
        spread = spread or part is None
        values = nxt
    return values if spread else values[0]


class HttpSettings(Settings):
    url: str = Field(min_length=1)
    method: Literal["GET", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    expected_codes: tuple[int, ...] = Field(default=(), alias="expectedCodes")
    json_path: str | None = Field(default=None, alias="jsonPath")
    regex: str | None = None
    timeout: Duration = 10

    _timeout = field_validator("timeout")(check_timeout)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("json_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_json_path(value)
        return value

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _one_extractor(self) -> HttpSettings:
        if self.json_path is not None and self.regex is not None:
            raise ValueError("give jsonPath or regex, not both")
        if self.body is not None and self.method == "GET":
            raise ValueError("a body needs method: POST")
        return self


class HttpProvider(ProviderBase[HttpSettings]):
    name = "http"
    settings_model = HttpSettings

    def check(self, config: Mapping[str, Any], *, where: str) -> None:
        self.settings(self._defaults(config), where=where)

    def _defaults(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return dict(config)

    def request_body(self, ctx: MeasureContext, settings: HttpSettings) -> bytes | None:
        return settings.body.encode() if settings.body is not None else None

    def measure(self, ctx: MeasureContext) -> Measurement:
        import httpx  # not at start-up: only a measurement needs it

        settings = self.settings(self._defaults(ctx.config))
        headers = dict(settings.headers)
        body = self.request_body(ctx, settings)
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        timeout = float(settings.timeout or 10)
        try:
            with (
                http_client(timeout) as client,
                client.stream(
                    settings.method, settings.url, headers=headers, content=body
                ) as response,
            ):
                raw = b""
                for chunk in response.iter_bytes():
                    raw += chunk
                    if len(raw) > MAX_BODY:
                        return ctx.error(
                            f"{settings.url}: the body is larger than {MAX_BODY} bytes"
                        )
        except httpx.TimeoutException:
            return ctx.error(f"{settings.method} {settings.url}: no answer within {timeout:g}s")
        except httpx.HTTPError as exc:
            return ctx.error(f"{settings.method} {settings.url}: {exc or type(exc).__name__}")
        except (ssl.SSLError, OSError) as exc:  # the trust store could not be read
            return ctx.error(f"{settings.method} {settings.url}: TLS set-up failed: {exc}")
        code = response.status_code
        text = raw.decode("utf-8", errors="replace")
        ok = code in settings.expected_codes if settings.expected_codes else 200 <= code < 300
        if not ok:
            want = (
                ", ".join(map(str, settings.expected_codes)) if settings.expected_codes else "2xx"
            )
            return ctx.measurement(
                MeasurementPhase.FAILED,
                f"{settings.method} {settings.url}: HTTP {code} (expected {want}): {text[:120]!r}",
                value=str(code),
            )
        return self._judge(ctx, settings, code, text)

    def _judge(
        self, ctx: MeasureContext, settings: HttpSettings, code: int, text: str
    ) -> Measurement:
        where = f"HTTP {code}"
        if settings.regex is not None:
            m = re.search(settings.regex, text)
            if m is None:
                return ctx.measurement(
                    MeasurementPhase.FAILED,
                    f"{where}: the body does not match {settings.regex!r}: {text[:120]!r}",
                )
            return ctx.assess(m.group(1) if m.groups() else m.group(0), message=where)
        try:
            doc: Any = json.loads(text) if text.strip() else None
            is_json = True
        except ValueError:
            doc, is_json = text, False
        if settings.json_path is not None:
            if not is_json:
                return ctx.error(f"{where}: the body is not JSON, so jsonPath cannot apply")
            try:
                return ctx.assess(json_path(doc, settings.json_path), message=where)
            except JsonPathError as exc:
                return ctx.measurement(MeasurementPhase.FAILED, f"{where}: {exc}")
        return ctx.assess(doc, message=where)


def check_json_body(text: str, *, where: str) -> None:
    try:
        json.loads(text)
    except ValueError as exc:
        raise InvalidSpecError(f"{where}: not JSON: {exc}") from None
