"""Best-on-validation vs last epoch, for every member of an ensemble CV folder.

    emovox cv --config configs/ssl.yaml --data ../shared/datasets/ravdess --protocol speaker \\
        --labels 8 --ensemble 3 --set select=best --set patience=40 --out runs/sel
    python benchmarks/select_epoch.py runs/sel

With patience above the epoch count, `last` is the final epoch; prints one JSON line with the
mean test accuracy of both checkpoints over all members and folds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from emovox import data, train
from emovox.inference import clip_inputs, load_model, predict_proba


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cv_dir")
    args = ap.parse_args()
    acc: dict[str, list[float]] = {"best": [], "last": []}
    encoder = None
    for member in sorted(Path(args.cv_dir).glob("fold*/member*")):
        for which in acc:
            loaded = load_model(member / "checkpoints" / which, encoder)
            encoder = loaded.encoder
            labels = tuple(loaded.meta["labels"])
            clips = data.load_clips(train.split_rows(member, labels, None))
            inputs = clip_inputs(loaded, clips, train.run_cache(member))
            probs = predict_proba(loaded.model, *inputs, torch.device("cpu"))
            y = np.array([labels.index(r.emotion) for r in clips.rows])
            acc[which].append(float((probs.argmax(1) == y).mean()))
    print(json.dumps({"members": len(acc["best"]),
                      **{f"{k}_accuracy_mean": round(float(np.mean(v)), 4)
                         for k, v in acc.items()}}))  # fmt: skip


if __name__ == "__main__":
    main()
