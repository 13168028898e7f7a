"""``kprism doctor -f`` on a 5 MB manifest (issue 9, item 16): how long it takes.

Generates ≈7,860 objects (Deployment, Service and PodDisruptionBudget per app, the same
template as tests/unit/test_doctor_scale.py, which counts the work instead of timing it)
into a temporary directory, then times, in this process and in CPU seconds as well as
wall time: loading and auditing (``doctor -f``), and ``--fix`` rewriting every
Deployment (one ``sh -c`` without exec each). Before issue 9 this took 40–88 s and
``--fix`` 170 s. Exits 1 when a phase takes longer than ``--bound`` wall seconds (a
generous bound: the machine may be shared).

    .venv/bin/python bench/doctor_large.py [--apps 2620] [--bound 120]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' template

from kprism.ops import doctor
from tests.unit.test_doctor_scale import APP


def _timed(what: str, fn: object, results: dict[str, object]) -> object:
    assert callable(fn)
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    results[what] = {
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
    }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=2620, help="apps of 3 objects each")
    parser.add_argument("--bound", type=float, default=120.0, help="wall seconds per phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "all.yaml"
        path.write_text(
            "".join(APP.format(n=n, m=(n + 1) % args.apps, ns=n % 20) for n in range(args.apps))
        )
        results: dict[str, object] = {
            "bytes": path.stat().st_size,
            "objects": 3 * args.apps,
        }
        audit = _timed("doctor -f", lambda: doctor.doctor_files([str(path)]), results)
        assert isinstance(audit, doctor.FileReport)
        results["findings"] = len(audit.audit.findings)
        fixed = _timed(
            "doctor -f --fix", lambda: doctor.doctor_files([str(path)], fix=True), results
        )
        assert isinstance(fixed, doctor.FileReport)
        results["fixed"] = len(fixed.fixed)
        results["left"] = len(fixed.audit.findings)
    print(json.dumps(results, indent=2))
    slow = [
        k for k, v in results.items() if isinstance(v, dict) and float(v["wall_s"]) > args.bound
    ]
    if slow:
        print(f"slower than {args.bound:g} s: {', '.join(slow)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
