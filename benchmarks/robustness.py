"""How much recording conditions cost: a speaker-independent model on its own test speakers'
clips, clean and degraded, through the product path (the torch engine on waveforms).

The degraded audio is made with other draws than training's augmented copies: noise from
seed 10_000 on, rooms from seeds training never uses (``augment.ROOMS`` and up), babble from the
*test* speakers' clips (training's babble is other training speakers). One row per condition:
accuracy, unweighted average recall and the drop from clean; then the mean and the worst drop.

    emovox train --fold 1 --labels 8 --out runs/fold1
    python benchmarks/robustness.py runs/fold1 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emovox.audio import augment, degrade
from emovox.data import clips as clipdata  # noqa: E402
from emovox.data.corpora import Manifest  # noqa: E402
from emovox.evaluation.metrics import metrics  # noqa: E402
from emovox.infer import torch_engine  # noqa: E402
from emovox.store.runs import RunFolder  # noqa: E402

Degrade = Callable[[np.ndarray, int], np.ndarray]  # (clean wave, clip index) -> degraded


def conditions(clips: clipdata.Clips) -> dict[str, Degrade]:
    """The issue's conditions, each a deterministic function of the clip and its index."""
    speakers = [r.speaker for r in clips.rows]

    def noise(snr: float) -> Degrade:
        def f(w: np.ndarray, i: int) -> np.ndarray:
            rng = np.random.default_rng([10_000, i])
            return degrade.mix(w, degrade.coloured_noise(len(w), "white", rng), snr)

        return f

    def babble(snr: float) -> Degrade:
        def f(w: np.ndarray, i: int) -> np.ndarray:
            pool = [x for x, s in zip(clips.waves, speakers, strict=True) if s != speakers[i]]
            rng = np.random.default_rng([20_000, i])
            return degrade.mix(w, degrade.babble(pool, len(w), 5, rng), snr)

        return f

    def room(w: np.ndarray, i: int) -> np.ndarray:
        return degrade.reverberate(w, degrade.room_impulse(0.5, augment.ROOMS + i % 8))

    return {
        "clean": lambda w, i: w,
        "white 20 dB": noise(20),
        "white 10 dB": noise(10),
        "white 5 dB": noise(5),
        "babble 20 dB": babble(20),
        "babble 10 dB": babble(10),
        "babble 5 dB": babble(5),
        "telephone (G.711)": lambda w, i: degrade.telephone(w),
        "MP3 24 kbit/s": lambda w, i: degrade.codec(w, "mp3", 24_000),
        "OGG Opus 12 kbit/s": lambda w, i: degrade.codec(w, "opus", 12_000),
        "-20 dB": lambda w, i: degrade.gain(w, -20),
        "+10 dB, clipped": lambda w, i: degrade.gain(w, 10),
        "room, RT60 0.5 s": room,
    }


def test_clips(run: RunFolder) -> clipdata.Clips:
    member = run.member(0) if run.is_ensemble else run
    test = set(member.read_split()["test"])
    return clipdata.load_clips(
        [r for r in Manifest.read_tsv(member.manifest).rows if r.path in test]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a speaker-independent run (or ensemble) folder")
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args()
    run = RunFolder(args.run)
    clips = test_clips(run)
    predictor = torch_engine.load(args.run)
    y = np.array([predictor.labels.index(r.emotion) for r in clips.rows])
    rows = {}
    for name, fn in conditions(clips).items():
        t = time.perf_counter()
        waves = [fn(w, i) for i, w in enumerate(clips.waves)]
        pred = predictor.predict_waves(waves).argmax(1)
        m = metrics(y, pred, predictor.labels)
        rows[name] = {"accuracy": m["accuracy"], "uar": m["uar"]}
        print(f"{name}: {m['accuracy']:.4f} ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    clean = rows["clean"]["accuracy"]
    drops = {k: clean - v["accuracy"] for k, v in rows.items() if k != "clean"}
    print(f"{args.run} ({len(clips.waves)} test clips, {', '.join(predictor.labels)})\n")
    print("| condition | accuracy | UA | drop |\n|---|---|---|---|")
    for k, v in rows.items():
        drop = f"{100 * drops[k]:+.1f}" if k in drops else ""
        print(f"| {k} | {100 * v['accuracy']:.1f}% | {100 * v['uar']:.1f}% | {drop} |")
    worst = max(drops, key=drops.get)
    mean = float(np.mean(list(drops.values())))
    print(f"\nmean drop {100 * mean:.1f} points; worst {100 * drops[worst]:.1f} ({worst})")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "mean_drop": mean, "worst": worst}))


if __name__ == "__main__":
    main()
