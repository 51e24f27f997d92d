"""Latency of `emovox predict` with the bundled default model on one RAVDESS clip (~3.5 s).

    python benchmarks/predict.py --n 20

Prints one JSON line:
- ``process_cold_s``: a fresh `emovox predict CLIP` process, start to exit (Python start,
  imports, model load, one prediction), median of ``--runs`` processes; it takes the
  torch-free path (:mod:`emovox.infer.numpy_engine`) when the model allows, as the CLI does;
- for each path (``lite``, ``torch``) in this process: ``import_s``, ``load_s``,
  ``first_predict_s`` and ``warm_ms`` (median of further single-clip predictions).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--model", default=None, help="default: the bundled model")
    ap.add_argument("--n", type=int, default=20, help="clips for the warm figure")
    ap.add_argument("--runs", type=int, default=3, help="processes for the cold figure")
    args = ap.parse_args()
    t = time.perf_counter()
    from emovox import audio
    from emovox.data import corpora
    from emovox.infer import numpy_engine

    lite_import_s = time.perf_counter() - t
    rows = corpora.read_corpus(args.data).rows
    # clips near RAVDESS's mean length (3.7 s)
    rows = sorted(rows, key=lambda r: abs(r.duration - 3.5))[: args.n]
    waves = [audio.load(r.path) for r in rows]
    cmd = [sys.executable, "-m", "emovox.cli", "predict", rows[0].path]
    if args.model:
        cmd += ["--model", args.model]
    cold = []
    for _ in range(args.runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        cold.append(time.perf_counter() - t)

    def timed(load) -> dict:
        t = time.perf_counter()
        pred = load()
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        pred.predict_waves(waves[:1])
        first_s = time.perf_counter() - t
        warm = []
        for w in waves:
            t = time.perf_counter()
            pred.predict_waves([w])
            warm.append(time.perf_counter() - t)
        return {
            "load_s": round(load_s, 3),
            "first_predict_s": round(first_s, 3),
            "warm_ms": round(1000 * statistics.median(warm), 1),
        }

    fast = timed(lambda: numpy_engine.load(args.model)) if numpy_engine.load(args.model) else None
    t = time.perf_counter()
    import torch

    from emovox.infer import torch_engine

    torch_import_s = time.perf_counter() - t
    slow = timed(lambda: torch_engine.load(args.model))
    print(
        json.dumps(
            {
                "clip_seconds": round(statistics.mean(len(w) / 16000 for w in waves), 2),
                "torch_threads": torch.get_num_threads(),
                "process_cold_s": round(statistics.median(cold), 3),
                "lite": fast and {"import_s": round(lite_import_s, 3), **fast},
                "torch": {"import_s": round(torch_import_s, 3), **slow},
            }
        )
    )


if __name__ == "__main__":
    main()
