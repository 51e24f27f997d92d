"""Skewed against balanced voices: how each way of estimating a speaker's reference (the
statistics adaptation takes as the speaker's neutral; ``emovox.infer.adapt.REFERENCES``)
holds up when one emotion dominates what the speaker said.

For each held-out corpus of a finished ``benchmarks/loco.py`` folder, each test speaker and
each emotion they have at least ``--min`` clips of: a set where that emotion is ``--share``
of the clips (all its clips, up to ``--max``, and the rest drawn from the speaker's others),
and a balanced set of the same size drawn from all the speaker's clips. Each set is adapted
to itself, as a recording is, and its clips classified. Prints UA per held-out corpus for the
balanced sets and for the sets dominated by each emotion, per estimator, and the largest gap.
Clips stand in for a recording's windows here: the same statistics, read once from the cache.

    python benchmarks/skewed.py runs/loco/default
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loco import statistics  # noqa: E402

from emovox.evaluation.metrics import metrics  # noqa: E402
from emovox.infer.adapt import REFERENCES, to_recording  # noqa: E402


def sets(rows, share: float, least: int, most: int, seed: int) -> dict[str, list[np.ndarray]]:
    """{"balanced" or a dominant emotion: [index arrays, one per speaker that has it]}."""
    rng = np.random.default_rng(seed)
    by: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by.setdefault(r.speaker, []).append(i)
    out: dict[str, list[np.ndarray]] = {}
    for spk in sorted(by):
        idx = np.array(by[spk])
        emo = np.array([rows[i].emotion for i in idx])
        for e in sorted(set(emo)):
            mine, rest = idx[emo == e], idx[emo != e]
            n_dom = min(len(mine), most)
            n_rest = round(n_dom * (1 - share) / share)
            if n_dom < least or len(rest) < n_rest:
                continue
            dom = np.concatenate([rng.choice(mine, n_dom, replace=False),
                                  rng.choice(rest, n_rest, replace=False)])  # fmt: skip
            out.setdefault(e, []).append(dom)
            out.setdefault("balanced", []).append(rng.choice(idx, len(dom), replace=False))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("loco_dir", type=Path)
    ap.add_argument("--share", type=float, default=0.7)
    ap.add_argument("--min", type=int, default=7, help="fewest clips of the dominant emotion")
    ap.add_argument("--max", type=int, default=14, help="most clips of the dominant emotion")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference", nargs="+", default=list(REFERENCES), choices=REFERENCES)
    args = ap.parse_args()
    report: dict = {}
    for run in sorted(p for p in args.loco_dir.iterdir() if (p / "config.json").exists()):
        predictor, inputs, rows = statistics(run)
        labels = predictor.labels
        y = np.array([labels.index(r.emotion) for r in rows])
        groups = sets(rows, args.share, args.min, args.max, args.seed)
        for how in args.reference:
            row = {}
            for key, members in groups.items():
                truth, pred = [], []
                for idx in members:
                    x = to_recording([m[idx] for m in inputs], predictor.training_means(),
                                     predictor.speaker_normalised(), how,
                                     lambda z, p=predictor: p.classify(z, True)[0])  # fmt: skip
                    pred.append(predictor.classify(x, True)[0].argmax(1))
                    truth.append(y[idx])
                m = metrics(np.concatenate(truth), np.concatenate(pred), labels)
                row[key] = round(100 * m["uar"], 1)
            report.setdefault(how, {})[run.name] = row
    for how, per in report.items():
        print(f"### reference: {how}")
        for corpus, row in per.items():
            skewed = {k: v for k, v in row.items() if k != "balanced"}
            gap = max(row["balanced"] - v for v in skewed.values())
            cells = ", ".join(f"{k} {v}" for k, v in skewed.items())
            print(f"{corpus}: balanced {row['balanced']}; 70% one emotion: {cells}; "
                  f"mean {np.mean(list(skewed.values())):.1f}; largest drop {gap:.1f}")  # fmt: skip
    (args.loco_dir / "skewed.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
