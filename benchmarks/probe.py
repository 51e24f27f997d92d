"""The issue's frozen linear probe, with and without cached augmented copies for training.

    python benchmarks/probe.py --data ../shared/datasets/ravdess --labels 8 --variants 0 1 2
    python benchmarks/probe.py --labels 8 --variants 0 --encoders whisper-tiny:1,2,3,4 \
        whisper-base:2,3,4+whisper-tiny:1,2,3,4
    python benchmarks/probe.py --labels 8 --variants 0 --trim-db 30

Frozen Whisper-base statistics (mean + std of hidden states 2-4, from the same cache as
training; ``--encoders`` names other encoders and states, ``+`` concatenates them),
standardised on the training side, logistic regression (C 0.05); EmoBox speaker folds,
training on each fold's training + validation actors. With K copies, every training clip also
contributes its K augmented copies (``emovox.data.Variant``, default augmentation). With
``--tta T``, each test clip's probabilities are also averaged over it and its first T copies
(test-time augmentation; a test clip's copies are never trained on). With ``--trim-db D``,
every clip's leading and trailing silence is cut first (``trim_db``). Prints one JSON line
per encoder spec and K.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from emovox.audio.augment import AugmentConfig  # noqa: E402
from emovox.data import clips as clipdata  # noqa: E402
from emovox.data import corpora, protocols
from emovox.data.labels import label_set  # noqa: E402
from emovox.infer.torch_engine import load_encoder  # noqa: E402
from emovox.store.cache import ArrayCache  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--labels", type=int, default=8)
    ap.add_argument("--variants", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--encoders",
        nargs="+",
        default=["whisper-base:2,3,4"],
        help="ENCODER:STATES[+ENCODER:STATES...], one probe each",
    )
    ap.add_argument("--tta", type=int, default=0, help="also average over T test copies")
    ap.add_argument("--trim-db", type=float, default=0.0, help="cut silence first (trim_db)")
    args = ap.parse_args()
    manifest = corpora.read_corpus(args.data)
    labels = label_set(args.labels)
    clips = clipdata.load_clips(manifest.rows).trimmed(args.trim_db)
    hashes = clips.keys
    cache, encoders = ArrayCache(), {}
    by_path = {r.path: i for i, r in enumerate(clips.rows)}

    def vectors(spec: str, variant: clipdata.Variant | None) -> np.ndarray:
        parts = []
        for part in spec.split("+"):
            name, states = part.split(":")
            if name not in encoders:
                encoders[name] = load_encoder(name)
            pooled = clipdata.encoder_pooled(
                clips.waves, hashes, encoders[name], name, cache, variant=variant
            )
            layers = [int(k) for k in states.split(",")]
            parts.append(np.stack([p[layers].reshape(-1) for p in pooled]))
        return np.concatenate(parts, axis=1)

    for spec in args.encoders:  # each spec's vectors read once, then sliced per K
        clean = vectors(spec, None)
        all_copies = [
            vectors(spec, clipdata.Variant(k, AugmentConfig()))
            for k in range(1, max(*args.variants, args.tta) + 1)
        ]
        for n in args.variants:
            _probe(
                spec,
                n,
                clean,
                all_copies[:n],
                manifest,
                labels,
                clips,
                by_path,
                all_copies[: args.tta],
            )


def _probe(
    spec: str,
    n: int,
    clean: np.ndarray,
    copies: list[np.ndarray],
    manifest,
    labels,
    clips,
    by_path: dict[str, int],
    tta: list[np.ndarray],
) -> None:
    """Speaker 6-fold logistic-regression probe on clean vectors plus n augmented copies;
    with ``tta`` copies, also the accuracy of probabilities averaged over clean + copies."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    accs, tta_accs = [], []
    for fold in protocols.speaker_folds(manifest):
        split = protocols.speaker_fold(manifest, labels, fold)
        train = [by_path[manifest.rows[i].path] for i in np.concatenate([split.train, split.valid])]
        test = [by_path[manifest.rows[i].path] for i in split.test]
        y = np.array([labels.index(clips.rows[i].emotion) for i in train])
        scaler = StandardScaler().fit(clean[train])
        x = np.concatenate([clean[train], *(c[train] for c in copies)])
        clf = LogisticRegression(C=0.05, max_iter=3000)
        clf.fit(scaler.transform(x), np.tile(y, n + 1))
        yt = np.array([labels.index(clips.rows[i].emotion) for i in test])
        accs.append(float((clf.predict(scaler.transform(clean[test])) == yt).mean()))
        if tta:
            prob = np.mean(
                [clf.predict_proba(scaler.transform(v[test])) for v in (clean, *tta)], axis=0
            )
            tta_accs.append(float((prob.argmax(axis=1) == yt).mean()))
    row = {
        "encoders": spec,
        "labels": len(labels),
        "variants": n,
        "trim_db": clips.trim_db,
        "accuracy_mean": round(float(np.mean(accs)), 4),
        "accuracy_std": round(float(np.std(accs)), 4),
        "folds": [round(a, 4) for a in accs],
    }
    if tta:
        row |= {
            "tta": len(tta),
            "tta_accuracy_mean": round(float(np.mean(tta_accs)), 4),
            "tta_folds": [round(a, 4) for a in tta_accs],
        }
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
