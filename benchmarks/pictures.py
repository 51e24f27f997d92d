"""The timeline pictures in docs/analysis.md: a 10 s recording and an hour told in six
10-minute acts, each mostly one emotion (70% of its clips), from RAVDESS clips with pauses.

    python benchmarks/pictures.py --out docs

The bundled model has heard these actors: the pictures show what the drawing does at each
length, not how well the model generalises (docs/analysis.md has held-out figures).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import emovox  # noqa: E402
from emovox.data import demo  # noqa: E402
from emovox.data.corpora import read_corpus  # noqa: E402

ACTS = ("neutral", "happy", "surprise", "angry", "sad", "neutral")


def hour(rows, seed: int = 0) -> np.ndarray:
    """Six acts of 10 minutes; in each, 70% of the clips carry that act's emotion."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, emotion in enumerate(ACTS):
        main = [r for r in rows if r.emotion == emotion]
        rest = [r for r in rows if r.emotion != emotion]
        picked = main + list(rng.choice(rest, size=int(len(main) * 3 / 7), replace=False))
        parts.append(demo.build_long(picked, 600, seed=seed + k).wave)
    return np.concatenate(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--out", default="docs")
    args = ap.parse_args()
    rows = [r for r in read_corpus(args.data).rows if r.emotion != "calm"]
    model = emovox.load_model(engine="torch")
    tmp = Path(tempfile.mkdtemp(prefix="emovox-pictures-"))
    one = [r for r in rows if r.speaker.endswith("05")]
    short = demo.build([one[3], one[40], one[25]], seed=2, pause=(0.4, 0.8))
    sf.write(tmp / "ten-seconds.flac", short.wave, 16000)
    sf.write(tmp / "an-hour.flac", hour(rows), 16000)
    for name, png in (("ten-seconds", "timeline-10s.png"), ("an-hour", "timeline-60min.png")):
        result = model.predict(tmp / f"{name}.flac", plot=Path(args.out) / png)
        print(f"{png}: {result.duration:.0f} s, {len(result.segments)} segments, "
              f"answer {result.emotion or result.reason}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
