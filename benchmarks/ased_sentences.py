"""Which of ASED's sentence numbers are the two spoken in every emotion (the corpus does not
say): the evidence behind ``emovox.data.corpora._ASED_COMMON``.

    python benchmarks/ased_sentences.py

Per clip, the mean over time of Whisper base's hidden state 6 (from the training cache, at the
default front end), standardised per speaker; per emotion folder and sentence number, the
centroid of its clips. A sentence spoken in several folders has centroids that point the same
way (the words are in the states). Prints, for each sentence number, the cosine between the
same number's centroids across folders (lowest and highest of the 10 folder pairs), and the
five most similar pairs of *different* folders and numbers.
"""

from __future__ import annotations

import sys
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from emovox.audio.frontend import Frontend  # noqa: E402
from emovox.data import clips as clipdata  # noqa: E402
from emovox.data import corpora
from emovox.infer.torch_engine import load_encoder  # noqa: E402
from emovox.store.cache import ArrayCache  # noqa: E402

LAYER = 6


def main() -> None:
    rows = corpora.read_corpus("../shared/datasets/ased").rows
    clips = clipdata.load_clips(rows).through(Frontend(0.0, -25.0))
    pooled = clipdata.encoder_pooled(
        clips.waves, clips.keys, load_encoder("whisper-base"), "whisper-base", ArrayCache(None)
    )
    d = pooled[0].shape[1] // 2
    x = np.stack([p[LAYER, :d] for p in pooled]).astype(np.float64)
    speakers = [r.speaker for r in clips.rows]
    x = np.stack(clipdata.speaker_standardise(list(x), speakers, -1))
    number = [r.text[-2:] for r in clips.rows]  # ased-01 / ased-n03: the sentence number
    groups = sorted({(r.emotion, n) for r, n in zip(clips.rows, number, strict=True)})
    cent = {}
    for emotion, n in groups:
        idx = [i for i, r in enumerate(clips.rows) if r.emotion == emotion and number[i] == n]
        c = x[idx].mean(0)
        cent[emotion, n] = c / np.linalg.norm(c)
    pairs = [(float(cent[a] @ cent[b]), a, b) for a, b in combinations(groups, 2) if a[0] != b[0]]
    for n in sorted({g[1] for g in groups}):
        same = [c for c, a, b in pairs if a[1] == n and b[1] == n]
        print(f"sentence {n}: across folders cosine {min(same):.2f} to {max(same):.2f}")
    print("most similar pairs of different numbers:")
    for c, a, b in sorted((p for p in pairs if p[1][1] != p[2][1]), reverse=True)[:5]:
        print(f"  {a[0]} {a[1]} ~ {b[0]} {b[1]}: {c:.2f}")


if __name__ == "__main__":
    main()
