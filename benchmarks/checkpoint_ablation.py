"""Best-by-validation against last-epoch checkpoints on a finished `emovox cv` folder.

    emovox cv --model encoder --data ../shared/datasets/ravdess --protocol speaker \
        --labels 8 --ensemble 3 --set select=best --set patience=40 --out runs/sel
    python benchmarks/checkpoint_ablation.py runs/sel

With patience at or above the epoch count no run stops early, so `last` is the schedule's
final epoch.

Evaluates every fold's last checkpoints (each member's and the votes, for an ensemble) into
`CV_DIR/foldK/last-checkpoint` and prints one JSON object: accuracy, UAR and macro-F1 means of
both, and for ensembles the soft and hard votes and each member. The best checkpoints'
figures are read from the folds' own metrics.json. Both come from the same test folds, so a
choice between them made from this output is a choice made on the test side.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from emovox.evaluation import metrics
from emovox.evaluation.evaluate import evaluate_run


def _brief(s: dict) -> dict:
    return {
        k: round(s[k], 4) for k in ("accuracy_mean", "accuracy_std", "uar_mean", "macro_f1_mean")
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("cv_dir")
    args = ap.parse_args()
    cv = Path(args.cv_dir)
    folds = sorted(d for d in cv.glob("fold*") if (d / "metrics.json").exists())
    result = {}
    for name in ("kept", "last"):
        per_fold = []
        for d in folds:
            if name == "kept":
                per_fold.append(json.loads((d / "metrics.json").read_text()))
            else:
                per_fold.append(evaluate_run(d, checkpoint_name="last"))
        s = metrics.summarise_folds(per_fold)
        row = _brief(s)
        if all("ensemble" in m for m in per_fold):
            e = metrics.summarise_ensembles([m["ensemble"] for m in per_fold])
            row["hard"] = _brief(e["hard"])
            accs = [m["accuracy_mean"] for m in e["members"]]
            row["members"] = [round(a, 4) for a in accs]
            row["members_mean"] = round(sum(accs) / len(accs), 4)  # over all members and folds
        result[name] = row
    print(json.dumps({"cv_dir": str(cv), "folds": len(folds), **result}))


if __name__ == "__main__":
    main()
