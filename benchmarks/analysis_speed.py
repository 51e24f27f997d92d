"""Speed and memory of ``emovox predict`` as a user runs it (whole processes, /usr/bin/time).

- long recordings: RAVDESS clips joined with short pauses into 10 and 60 minutes of FLAC, a
  pause over every 60 s block boundary; wall time, real-time factor, peak RSS and frame
  accuracy (overall and per 10 minutes) per engine;
- a folder: every RAVDESS clip through one command; throughput in audio seconds per second;
- cold start: one clip in a fresh process (median of 3); warm: one clip in-process (median
  of 20).

    python benchmarks/analysis_speed.py --minutes 10 60 --engine numpy torch
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emovox.data import demo  # noqa: E402
from emovox.data.corpora import read_corpus  # noqa: E402


def timed(cmd: list[str]) -> dict:
    """Wall seconds and peak RSS (MB) of a command, from GNU time."""
    out = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise RuntimeError(out.stderr[-2000:])
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", out.stderr).group(1)
    parts = [float(x) for x in wall.split(":")]
    seconds = sum(p * 60**k for k, p in enumerate(reversed(parts)))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    return {"wall_s": round(seconds, 2), "peak_rss_mb": round(rss / 1024, 1), "stdout": out.stdout}


def long_recording(path: Path, minutes: float, rows) -> demo.Recording:
    """Clips joined with 0.3-1 s pauses into ``minutes``, every 60 s block boundary in a pause
    (the places where reading in blocks can lose its place); the recording with its truth."""
    rec = demo.build_long(rows, minutes * 60, seed=3)
    sf.write(path, rec.wave, 16000, format="FLAC")
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--minutes", type=float, nargs="*", default=[10, 60])
    ap.add_argument("--engine", nargs="+", default=["numpy", "torch"])
    ap.add_argument("--folder", action="store_true", help="also the whole corpus folder")
    args = ap.parse_args()
    rows = [r for r in read_corpus(args.data).rows if r.emotion != "calm"][::3]
    tmp = Path(tempfile.mkdtemp(prefix="emovox-speed-"))
    emovox = [sys.executable, "-m", "emovox.cli", "predict", "--no-progress", "--format", "json"]
    for minutes in args.minutes:
        path = tmp / f"talk-{minutes:g}min.flac"
        rec = long_recording(path, minutes, rows)
        seconds = len(rec.wave) / 16000
        for engine in args.engine:
            t = timed([*emovox, "--engine", engine, str(path)])
            result = json.loads(t.pop("stdout"))[0]
            segments = result.get("segments", [])
            stretches = demo.score_stretches(segments, rec.truth, seconds)
            overall = demo.score_stretches(segments, rec.truth, seconds, every=seconds)[0]
            print(
                json.dumps(
                    {
                        "input": f"{minutes:g} min recording",
                        "engine": engine,
                        **t,
                        "real_time_factor": round(t["wall_s"] / seconds, 4),
                        "segments": len(segments),
                        "frame_accuracy": round(overall, 3),
                        "per_10_min": [round(x, 3) for x in stretches],
                    }
                ),
                flush=True,
            )
    if args.folder:
        total = sum(sf.info(r.path).duration for r in read_corpus(args.data).rows)
        for engine in args.engine:
            t = timed([*emovox, "--engine", engine, args.data])
            n = len(json.loads(t.pop("stdout")))
            print(
                json.dumps(
                    {
                        "input": f"folder of {n} clips",
                        "engine": engine,
                        **t,
                        "audio_s": round(total, 1),
                        "x_real_time": round(total / t["wall_s"], 1),
                    }
                ),
                flush=True,
            )
    clip = read_corpus(args.data).rows[0].path
    cold = [timed([*emovox, clip])["wall_s"] for _ in range(3)]
    print(
        json.dumps(
            {
                "input": "one clip, fresh process",
                "engine": "auto",
                "median_wall_s": statistics.median(cold),
            }
        )
    )
    import emovox as ev

    for engine in args.engine:
        model = ev.load_model(engine=engine)
        wave = ev.load(clip)
        model.predict(wave, sr=16000)
        warm = []
        for _ in range(20):
            t0 = time.perf_counter()
            model.predict(wave, sr=16000)
            warm.append(time.perf_counter() - t0)
        print(
            json.dumps(
                {
                    "input": "one clip, warm",
                    "engine": engine,
                    "median_ms": round(1000 * float(np.median(warm)), 1),
                }
            )
        )


if __name__ == "__main__":
    main()
