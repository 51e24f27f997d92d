"""Throughput of ``emovox batch`` (Ray Data, embedded) against ``emovox predict`` on the same
inputs, as a user runs them (whole processes, /usr/bin/time):

- the RAVDESS folder (1440 clips): ``emovox predict FOLDER --format jsonl`` against
  ``emovox batch FOLDER`` with 2 model workers (the ratio), and 1 worker on one core against
  2 (the scaling of worker processes);
- one hour-long recording (``demo.build_long``, as benchmarks/analysis_speed.py builds it):
  one input, so one worker, given both cores;
- a rerun over the finished folder (everything skipped: the cost of resuming).

    python benchmarks/batch.py                # all of it
    python benchmarks/batch.py --no-hour      # the folder only
    python benchmarks/batch.py --no-folder    # the hour only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis_speed import long_recording, timed  # noqa: E402

from emovox.data.corpora import read_corpus  # noqa: E402

EMOVOX = [sys.executable, "-m", "emovox.cli"]
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def row(name: str, audio_s: float, t: dict, **extra) -> dict:
    out = {"input": name, **extra, "wall_s": t["wall_s"], "peak_rss_mb": t["peak_rss_mb"]}
    out["audio_h_per_h"] = round(audio_s / t["wall_s"], 1)
    print(json.dumps(out), flush=True)
    return out


def batch(inputs: list[str], out: Path, workers: int, *extra: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*EMOVOX, "batch", *inputs, "--out", str(out), "--no-progress", *extra]
    t = timed([*cmd, "--workers", str(workers)])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == 0 and summary["written"] > 0, summary
    return t


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--no-hour", action="store_true")
    ap.add_argument("--no-folder", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="emovox-batch-"))
    rows = read_corpus(args.data).rows
    if not args.no_folder:
        folder(args.data, rows, tmp)
    if not args.no_hour:
        hour = tmp / "talk-60min.flac"
        long_recording(hour, 60, [r for r in rows if r.emotion != "calm"][::3])
        pred = timed([*EMOVOX, "predict", "--no-progress", "--format", "jsonl", str(hour)])
        row("one 60 min recording", 3600, pred, command="predict")
        row("one 60 min recording", 3600, batch([str(hour)], tmp / "h", 1), command="batch")
    shutil.rmtree(tmp, ignore_errors=True)


def folder(data: str, rows, tmp: Path) -> None:
    """predict against batch with 1 and 2 workers on a folder of clips, then a rerun."""
    audio_s = sum(sf.info(r.path).duration for r in rows)
    name = f"folder of {len(rows)} clips"
    pred = timed([*EMOVOX, "predict", "--no-progress", "--format", "jsonl", data])
    base = row(name, audio_s, pred, command="predict")
    # one process on one core against two: the scaling of worker processes
    one = batch([data], tmp / "b1", 1, "--cpus-per-worker", "1")
    one = row(name, audio_s, one, command="batch", workers=1, cpus_per_worker=1)
    two = row(name, audio_s, batch([data], tmp / "b2", 2), command="batch", workers=2)
    again = timed([*EMOVOX, "batch", data, "--out", str(tmp / "b2"), "--no-progress"])
    row(name, audio_s, again, command="batch rerun (all skipped)", workers=2)
    print(
        json.dumps(
            {
                "batch_2_workers_over_predict": round(base["wall_s"] / two["wall_s"], 2),
                "scaling_1_to_2_workers": round(one["wall_s"] / two["wall_s"], 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
