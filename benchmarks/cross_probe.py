"""Cross-corpus linear probes: which representation of a clip carries emotion from one corpus
to the other (RAVDESS <-> ASED, the five shared emotions), in a minute instead of the 10-20 of
trained heads.

    python benchmarks/cross_probe.py                # at the default front end (-25 dBFS)
    python benchmarks/cross_probe.py --trim-db 25   # leading and trailing silence cut too

Per clip: the frozen Whisper-base statistics (mean + std over time of each hidden state, from
the same cache as training) and the handcrafted features' mean + std over frames. A
representation, standardised on the training corpus, feeds a logistic regression (C 0.1,
balanced classes) trained on all of one corpus and tested on all of the other: UA (unweighted
average recall) and per-class recall, plain and adapted (each speaker standardised by their
own statistics: every clip on the training side, 10 unlabelled clips on the test side). The
``common sentences`` rows train and test ASED only on its two sentences spoken in every
emotion, so no word can give the emotion away. Prints one JSON line per representation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from emovox.audio.frontend import Frontend  # noqa: E402
from emovox.data import clips as clipdata  # noqa: E402
from emovox.data import corpora
from emovox.features.handcrafted import FeatureConfig, FeatureExtractor  # noqa: E402
from emovox.infer.torch_engine import load_encoder  # noqa: E402
from emovox.store.cache import ArrayCache  # noqa: E402

SHARED = ("angry", "fear", "happy", "neutral", "sad")
ENROLL = 10  # unlabelled clips per test speaker
CORPORA = ("../shared/datasets/ravdess", "../shared/datasets/ased")


def clip_table(trim_db: float, level_db: float, encoder: str) -> dict:
    """Per clip of the shared emotions: encoder statistics, handcrafted statistics, labels."""
    manifest = corpora.read_corpora(CORPORA)
    rows = [r for r in manifest.rows if r.emotion in SHARED]
    clips = clipdata.load_clips(rows).through(Frontend(trim_db, level_db))
    cache = ArrayCache(None)
    pooled = clipdata.encoder_pooled(clips.waves, clips.keys, load_encoder(encoder), encoder, cache)
    feats = clipdata.clean_features(
        clips.waves, clips.keys, FeatureExtractor(FeatureConfig()), cache
    )
    return {
        "pooled": np.stack(pooled),  # (clips, layers, 2d)
        "handcrafted": np.stack([np.concatenate([f.mean(0), f.std(0)]) for f in feats]),
        "y": np.array([SHARED.index(r.emotion) for r in clips.rows]),
        "corpus": np.array([r.corpus for r in clips.rows]),
        "speaker": np.array([r.speaker for r in clips.rows]),
        "common": np.array(corpora.spoken_in_every_emotion(clips.rows)),
    }


def representations(t: dict, chosen: list[int]) -> dict[str, np.ndarray]:
    """Named (clips, dims) views of the table; ``chosen``: the states the model pools."""
    p, half = t["pooled"], t["pooled"].shape[2] // 2
    name = f"states {','.join(map(str, chosen))}"

    def layers(ls: list[int], part: slice = slice(None)) -> np.ndarray:
        return p[:, ls, part].reshape(len(p), -1)

    return {
        f"{name}, mean + std (the model's)": layers(chosen),
        f"{name}, mean": layers(chosen, slice(0, half)),
        f"{name}, std": layers(chosen, slice(half, None)),
        "state 1": layers([1]),
        "every state": layers(list(range(p.shape[1]))),
        "handcrafted mean + std": t["handcrafted"],
        f"{name} + handcrafted": np.hstack([layers(chosen), t["handcrafted"]]),
    }


def probe(
    x_train: np.ndarray, x_test: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray
) -> dict:
    """UA and per-class recall of a logistic regression fitted on ``x_train[train]``, tested on
    ``x_test[test]`` (the same clips' rows, as the two sides see them)."""
    mean, std = x_train[train].mean(0), x_train[train].std(0) + 1e-6
    clf = LogisticRegression(C=0.1, max_iter=2000, class_weight="balanced")
    clf.fit((x_train[train] - mean) / std, y[train])
    recall = recall_score(y[test], clf.predict((x_test[test] - mean) / std), average=None)
    return {"ua": round(100 * recall.mean(), 1), "recall": [round(100 * r, 1) for r in recall]}


def directions(x_train: np.ndarray, x_test: np.ndarray, t: dict, keep: np.ndarray) -> dict:
    """RAVDESS -> ASED and ASED -> RAVDESS on the clips ``keep``."""
    return {
        f"{src}->{dst}": probe(
            x_train, x_test, t["y"], keep & (t["corpus"] == src), keep & (t["corpus"] == dst)
        )
        for src, dst in (("ravdess", "ased"), ("ased", "ravdess"))
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trim-db", type=float, default=0.0)
    ap.add_argument("--level-db", type=float, default=-25.0)
    ap.add_argument("--encoder", default="whisper-base", help="wheel name or local directory")
    ap.add_argument("--layers", default="2,3,4", help="the states the model pools")
    args = ap.parse_args()
    t = clip_table(args.trim_db, args.level_db, args.encoder)
    every = np.ones(len(t["y"]), dtype=bool)
    for name, x in representations(t, [int(k) for k in args.layers.split(",")]).items():
        adapted_train = np.stack(clipdata.speaker_standardise(list(x), list(t["speaker"]), -1))
        adapted_test = np.stack(clipdata.speaker_standardise(list(x), list(t["speaker"]), ENROLL))
        for rows, keep in (("all clips", every), ("common sentences", t["common"])):
            if rows == "common sentences" and not name.endswith("(the model's)"):
                continue
            line = {"representation": name, "clips": rows, **vars(args)}
            line["plain"] = directions(x, x, t, keep)
            line["adapted"] = directions(adapted_train, adapted_test, t, keep)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
