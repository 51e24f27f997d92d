"""Fuzz the entry points at scale with the test suite's strategies (tests/fuzzing.py): the
loader on random and mutated WAV/FLAC/MP3/OGG/M4A bytes, and the bundled model's ``predict`` on
files and on hostile waves. Prints how many cases ran, how each ended, anything that ended
otherwise (should be none), the slowest case and the peak memory.

    python benchmarks/fuzz.py --loader 8000 --files 1500 --waves 1500
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import emovox  # noqa: E402
from emovox import audio  # noqa: E402
from tests import fuzzing  # noqa: E402


def _run(strategy, n: int, case_fn, counts: collections.Counter, failures: list, slowest: list):
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(case):
        t = time.perf_counter()
        try:
            counts[case_fn(case)] += 1
        except Exception as exc:  # anything but a result or a typed error is a finding
            failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        slowest[0] = max(slowest[0], time.perf_counter() - t)

    one()


def _load(case) -> str:
    try:
        wave = audio.load(case[1])
    except audio.AudioError as exc:
        return f"loader {type(exc).__name__}"
    assert wave.dtype == np.float32 and wave.ndim == 1 and np.isfinite(wave).all()
    return "loader samples"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loader", type=int, default=8000)
    ap.add_argument("--files", type=int, default=1500)
    ap.add_argument("--waves", type=int, default=1500)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    analyzer = emovox.load_model(engine="numpy")
    counts: collections.Counter = collections.Counter()
    failures: list[str] = []
    slowest = [0.0]
    t = time.perf_counter()
    _run(fuzzing.any_file, args.loader, _load, counts, failures, slowest)
    _run(
        fuzzing.any_file,
        args.files,
        lambda c: "predict(file) " + fuzzing.outcome(analyzer.predict(c[1])),
        counts,
        failures,
        slowest,
    )
    _run(
        fuzzing.waves(),
        args.waves,
        lambda c: "predict(wave) " + fuzzing.outcome(analyzer.predict(np.asarray(c[1]), sr=c[2])),
        counts,
        failures,
        slowest,
    )
    report = {
        "cases": sum(counts.values()) + len(failures),
        "outcomes": dict(sorted(counts.items())),
        "failures": len(failures),
        "first_failures": sorted(set(failures))[:10],
        "slowest_case_s": round(slowest[0], 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "seconds": round(time.perf_counter() - t),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
