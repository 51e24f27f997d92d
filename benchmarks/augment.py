"""Cost of on-the-fly waveform augmentation per clip, default AugmentConfig, RAVDESS clips.

python benchmarks/augment.py --data ../shared/datasets/ravdess --n 100
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.clips import spread_clips  # noqa: E402
from emovox.audio.augment import AugmentConfig, augment, pitch_shift, time_stretch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    waves = spread_clips(args.data, args.n)
    rng = np.random.default_rng(0)

    def per_clip(fn) -> float:
        t = time.perf_counter()
        for w in waves:
            fn(w)
        return round(1000 * (time.perf_counter() - t) / len(waves), 2)

    print(
        json.dumps(
            {
                "clips": len(waves),
                "default_config_ms_per_clip": per_clip(
                    lambda w: augment(w, AugmentConfig(), rng, 16000)
                ),
                "pitch_shift_ms": per_clip(lambda w: pitch_shift(w, 1.5, 16000)),
                "time_stretch_ms": per_clip(lambda w: time_stretch(w, 1.1)),
            }
        )
    )


if __name__ == "__main__":
    main()
