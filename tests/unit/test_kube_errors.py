"""The adapter's error translation: every client failure becomes one kprism error class
with a one-line message and the exit code the CLI promises (kprism.errors)."""

from __future__ import annotations

import httpx2
import pytest
from lightkube.core.exceptions import ApiError

from kprism.errors import (
    ClusterError,
    ConflictError,
    ForbiddenError,
    KprismError,
    NotFoundError,
    UsageError,
)
from kprism.kube.errors import ResourceTypeMissing, TransientError, translating

URL = "https://127.0.0.1:6443/api/v1/namespaces/web/services/hello"


def api_error(code: int, message: str = "boom\nsecond line") -> ApiError:
    request = httpx2.Request("GET", URL)
    body = {"kind": "Status", "apiVersion": "v1", "code": code, "message": message}
    return ApiError(request=request, response=httpx2.Response(code, json=body, request=request))


def translated(exc: BaseException, **kw: str) -> KprismError:
    with pytest.raises(KprismError) as info, translating("get Service hello in ns web", **kw):
        raise exc
    return info.value


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (404, NotFoundError),
        (403, ForbiddenError),
        (401, ClusterError),
        (409, ConflictError),
        (400, UsageError),
        (422, UsageError),
        (429, TransientError),
        (500, TransientError),
        (503, TransientError),
        (418, ClusterError),
    ],
)
def test_api_errors_map_to_one_class_each(code: int, cls: type[KprismError]) -> None:
    err = translated(api_error(code))
    assert type(err) is cls
    assert "\n" not in str(err), "messages are one line"
    assert "get Service hello in ns web" in str(err)


def test_not_found_carries_the_object_so_callers_need_not_read_the_message() -> None:
    err = translated(api_error(404), kind="Service", name="hello", namespace="web")
    assert isinstance(err, NotFoundError)
    assert (err.kind, err.name, err.namespace) == ("Service", "hello", "web")


def test_forbidden_names_the_kind_and_points_at_the_role() -> None:
    err = translated(api_error(403, "services is forbidden"), kind="Service")
    assert isinstance(err, ForbiddenError)
    assert err.kind == "Service"
    assert "docs/rbac.md" in str(err)


def test_a_plain_404_without_a_status_means_the_resource_type_is_not_served() -> None:
    request = httpx2.Request("GET", URL)
    response = httpx2.Response(404, text="404 page not found", request=request)
    exc = httpx2.HTTPStatusError("404", request=request, response=response)
    err = translated(exc, kind="HTTPRoute")
    assert isinstance(err, ResourceTypeMissing)
    assert err.kind == "HTTPRoute"


def test_a_connection_failure_is_transient() -> None:
    err = translated(httpx2.ConnectError("connection refused"))
    assert isinstance(err, TransientError)
    assert "unreachable" in str(err)


def test_kprism_errors_pass_through_unchanged() -> None:
    original = ConflictError("already one")
    assert translated(original) is original


def test_other_exceptions_are_not_swallowed() -> None:
    with pytest.raises(ZeroDivisionError), translating("divide"):
        raise ZeroDivisionError
