"""Cost of on-the-fly waveform augmentation per clip, default AugmentConfig, RAVDESS clips.

    python benchmarks/augment.py --data ../shared/datasets/ravdess --n 100
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from emovox import audio, corpora
from emovox.augment import AugmentConfig, augment, pitch_shift, time_stretch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    rows = corpora.read_corpus(args.data).rows
    waves = [audio.load(r.path) for r in rows[:: max(1, len(rows) // args.n)][: args.n]]
    rng = np.random.default_rng(0)

    def per_clip(fn) -> float:
        t = time.perf_counter()
        for w in waves:
            fn(w)
        return round(1000 * (time.perf_counter() - t) / len(waves), 2)

    print(json.dumps({
        "clips": len(waves),
        "default_config_ms_per_clip": per_clip(lambda w: augment(w, AugmentConfig(), rng, 16000)),
        "pitch_shift_ms": per_clip(lambda w: pitch_shift(w, 1.5, 16000)),
        "time_stretch_ms": per_clip(lambda w: time_stretch(w, 1.1)),
    }))


if __name__ == "__main__":
    main()
