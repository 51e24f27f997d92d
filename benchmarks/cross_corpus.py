"""Cross-corpus figures of trained runs: unweighted average recall (UA) and per-class recall on
the test corpus, as trained (plain) and adapted to each test speaker from 10 of their own
unlabelled clips, the way ``emovox predict`` adapts a recording (each member's statistics
shifted so the speaker's mean becomes the training mean; standardised for members trained on
per-speaker standardised statistics).

    emovox train --data ../shared/datasets/ravdess --data ../shared/datasets/ased \
        --protocol cross-corpus --test-corpus ased --labels 7 --ensemble 3 --out runs/xc/to-ased
    python benchmarks/cross_corpus.py runs/xc/to-ased [more runs ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emovox.data import clips as clipdata  # noqa: E402
from emovox.data.corpora import Manifest  # noqa: E402
from emovox.evaluation.metrics import metrics  # noqa: E402
from emovox.infer import torch_engine  # noqa: E402
from emovox.infer.engine import Engine  # noqa: E402
from emovox.store.runs import RunFolder  # noqa: E402

ENROLL = 10  # unlabelled clips per test speaker


def adapted(
    predictor: Engine,
    inputs: list[np.ndarray],
    speakers: list[str],
    seed: int,
    enroll: int = ENROLL,
):
    """Each member's statistics adapted per speaker (or any group: one channel, one corpus)
    from ``enroll`` of the group's clips."""
    rng = np.random.default_rng(seed)
    out = [x.copy() for x in inputs]
    by: dict[str, list[int]] = {}
    for i, s in enumerate(speakers):
        by.setdefault(s, []).append(i)
    for s in sorted(by):
        idx = np.array(by[s])
        ref = idx if len(idx) <= enroll else np.sort(rng.choice(idx, enroll, replace=False))
        for k, (mean, standardise) in enumerate(
            zip(predictor.training_means(), predictor.speaker_normalised(), strict=True)
        ):
            mu = inputs[k][ref].mean(0)
            if standardise:
                sd = np.maximum(inputs[k][ref].std(0), 1e-5)
                out[k][idx] = (inputs[k][idx] - mu) / sd
            else:
                out[k][idx] = inputs[k][idx] + (mean - mu)
    return out


def evaluate(run_dir: Path, seed: int) -> dict:
    run = RunFolder(run_dir)
    member = run.member(0) if run.is_ensemble else run
    test = set(member.read_split()["test"])
    clips = clipdata.load_clips(
        [r for r in Manifest.read_tsv(member.manifest).rows if r.path in test]
    )
    predictor = torch_engine.load(run_dir)
    y = np.array([predictor.labels.index(r.emotion) for r in clips.rows])
    out = {"run": str(run_dir), "clips": len(y), "labels": list(predictor.labels)}
    if predictor.reads_statistics:
        inputs = predictor.member_inputs(clips.waves)
        speakers = [r.speaker for r in clips.rows]
        adapt = predictor.classify(adapted(predictor, inputs, speakers, seed), True)[0]
        adapt = adapt.argmax(1)
        # a speaker-normalised model has no answer without its speaker's statistics
        plain = None if all(predictor.speaker_normalised()) else predictor.classify(inputs)[0]
        preds = {"plain": None if plain is None else plain.argmax(1), "adapted": adapt}
    else:  # a fine-tuned encoder: no statistics to adapt
        preds = {"plain": predictor.predict_waves(clips.waves).argmax(1), "adapted": None}
    for name, pred in preds.items():
        out[name] = None
        if pred is not None:
            m = metrics(y, pred, predictor.labels)
            out[name] = {
                "uar": m["uar"],
                "recall": {k: v["recall"] for k, v in m["per_class"].items()},
            }
    return out


def _cells(r: dict | None) -> str:
    """'UA | recall / recall / ...' of one result, or dashes when there is none."""
    if r is None:
        return "- | -"
    return f"{100 * r['uar']:.1f}% | " + " / ".join(f"{100 * v:.1f}" for v in r["recall"].values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--seed", type=int, default=0, help="which enrollment clips are drawn")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = [evaluate(r, args.seed) for r in args.runs]
    print(
        "| run | clips | UA | recall (" + " / ".join(rows[0]["labels"]) + ") | UA adapted "
        f"({ENROLL} clips) | recall adapted |\n|---|---|---|---|---|---|"
    )
    for r in rows:
        print(f"| {r['run']} | {r['clips']} | {_cells(r['plain'])} | {_cells(r['adapted'])} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
