"""Background jobs of the dashboard: progress lines, start/finish, errors, trimming."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from kprism.errors import ForbiddenError, UsageError
from kprism.web.jobs import KEEP_JOBS, Job, Jobs, ProgressLog


def tick(step: str, message: str, *actions: str) -> SimpleNamespace:
    return SimpleNamespace(
        status=SimpleNamespace(id="r1", step=step, message=message), actions=actions
    )


def test_progress_lines_like_the_piped_cli() -> None:
    now = [100.0]
    log = ProgressLog(clock=lambda: now[0])
    log.tick(tick("create-candidate", "scale Deployment x to 3", "scale Deployment x to 3"))
    now[0] = 101.5
    log.tick(tick("wait-ready", "waiting for x: 1/3 ready"))
    log.tick(tick("wait-ready", "waiting for x: 1/3 ready"))  # unchanged: no new line
    log.tick(tick("await-promotion", "x is ready", "event CandidateReady: 3/3"))
    log.add("warning: KP002")
    assert list(log.lines) == [
        "   0.0s  create-candidate  → scale Deployment x to 3",
        "   1.5s  wait-ready  waiting for x: 1/3 ready",
        "   1.5s  await-promotion  ✓ CandidateReady: 3/3",
        "   1.5s  await-promotion  x is ready",
        "   1.5s  warning: KP002",
    ]


def test_a_job_that_ticks_is_started_and_reports_its_result() -> None:
    jobs = Jobs()
    go = threading.Event()

    def work(job: Job) -> str:
        job.on_tick(tick("wait-ready", "waiting"))
        go.wait(5)
        return "release r1 succeeded: done"

    job = jobs.start("ns/app", "release", work)
    assert job.wait_started(5)
    assert job.running and job.release_id == "r1"
    assert [j.kind for j in jobs.running("ns/app")] == ["release"]
    view = job.view()
    assert (view["state"], view["kind"], view["release"]) == ("running", "release", "r1")
    go.set()
    assert jobs.wait_all(5)
    assert not job.running
    assert job.view()["state"] == "done"
    assert job.view()["result"] == "release r1 succeeded: done"
    assert job.view()["lines"][-1].endswith("release r1 succeeded: done")
    assert job.finished_at


def test_a_refused_job_keeps_the_error_and_its_http_status() -> None:
    jobs = Jobs()

    def refused(job: Job) -> str:
        raise UsageError("nothing to promote: app hello has no release in progress")

    job = jobs.start("ns/app", "promote", refused)
    assert job.wait_started(5) and not job.running
    assert (job.error, job.error_status) == (
        "nothing to promote: app hello has no release in progress",
        400,
    )
    assert job.view()["state"] == "failed"
    job.reported = True
    assert job.view()["error"] == ""  # already shown as the HTTP response
    jobs.forget(job)
    assert jobs.for_app("ns/app") == []

    forbidden = jobs.start(
        "ns/app", "rollback", lambda job: (_ for _ in ()).throw(ForbiddenError("no"))
    )
    forbidden.done.wait(5)
    assert forbidden.error_status == 403


def test_a_bug_becomes_an_internal_error_not_a_dead_thread() -> None:
    jobs = Jobs()
    job = jobs.start("ns/app", "split", lambda job: {}["missing"])
    job.done.wait(5)
    assert job.error == "internal error: KeyError: 'missing'"
    assert job.error_status == 500


def test_wait_started_times_out_while_validation_is_slow() -> None:
    jobs = Jobs()
    release = threading.Event()
    job = jobs.start("ns/app", "release", lambda job: str(release.wait(5)))
    assert not job.wait_started(0.1)
    release.set()
    assert job.wait_started(5)


def test_finished_jobs_are_trimmed_running_ones_kept() -> None:
    jobs = Jobs()
    hold = threading.Event()
    running = jobs.start("ns/app", "release", lambda job: str(hold.wait(5)))
    for i in range(KEEP_JOBS + 3):
        jobs.start("ns/app", f"scale{i}", lambda job: "ok").done.wait(5)
    kept = jobs.for_app("ns/app")
    assert running in kept
    assert len(kept) <= KEEP_JOBS + 1
    assert kept[-1].kind == f"scale{KEEP_JOBS + 2}"
    hold.set()
    assert jobs.wait_all(5)
    assert jobs.running() == []
