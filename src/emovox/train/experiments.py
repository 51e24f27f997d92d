"""Experiment drivers over the training loop: ensembles of seeds and cross-validation.

Both resume: finished members and folds (their metrics.json exists) are read, an interrupted
one continues from its last checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emovox.data import corpora, protocols
from emovox.evaluation import metrics
from emovox.evaluation.evaluate import evaluate_ensemble
from emovox.store.atomic import write_json
from emovox.store.runs import RunFolder
from emovox.train.config import TrainConfig, member_config
from emovox.train.loop import train
from emovox.train.runtime import versions


def run(cfg: TrainConfig, out: str | Path, resume: bool = False) -> dict:
    """One model, or an ensemble when ``cfg.ensemble > 1``."""
    if cfg.ensemble > 1:
        return train_ensemble(cfg, out)
    return train(cfg, out, resume=resume)


def train_ensemble(cfg: TrainConfig, out: str | Path) -> dict:
    """Train ``cfg.ensemble`` members (seeds seed, seed + 1, ...; ``member_overrides`` can
    vary more, e.g. the encoder) on one split into ``out/member{k}``, then evaluate members,
    soft and hard votes."""
    ens = RunFolder(out)
    ens.root.mkdir(parents=True, exist_ok=True)
    write_json({"train": cfg.to_dict(), "versions": versions()}, ens.config)
    for k in range(cfg.ensemble):
        member = ens.member(k)
        if not member.finished:
            train(member_config(cfg, k), member.root, resume=member.has_checkpoint("last"))
    ens.write_ensemble({"members": [f"member{k}" for k in range(cfg.ensemble)], "temperature": 1.0})
    return evaluate_ensemble(ens.root)


def folds_of(cfg: TrainConfig) -> list[int]:
    """What cross-validation iterates: split seeds 0-4 (random) or the speaker folds."""
    if cfg.protocol == "random":
        return [0, 1, 2, 3, 4]
    return protocols.speaker_folds(corpora.read_corpora(cfg.data))


def cv(cfg: TrainConfig, out: str | Path, folds: list[int] | None = None) -> dict:
    """Train and evaluate every fold (speaker protocols: ``fold{k}``) or split seed (random:
    ``seed{k}``); write summary.json and the summed confusion matrix."""
    out = Path(out)
    folds = folds if folds is not None else folds_of(cfg)
    results = []
    for k in folds:
        if cfg.protocol == "random":
            fold, fold_cfg = RunFolder(out / f"seed{k}"), cfg.replace(split_seed=k)
        else:
            fold, fold_cfg = RunFolder(out / f"fold{k}"), cfg.replace(fold=k)
        if fold.finished:
            results.append(fold.read_metrics())
        else:
            results.append(run(fold_cfg, fold.root, resume=fold.has_checkpoint("last")))
    summary = metrics.summarise_folds(results) | {
        "protocol": cfg.protocol,
        "model": cfg.model,
        "folds_run": folds,
        "train_seconds_mean": float(np.mean([r.get("train_seconds", 0) for r in results])),
    }
    if all("ensemble" in r for r in results):
        summary["ensemble"] = metrics.summarise_ensembles([r["ensemble"] for r in results])
    write_json(summary, out / "summary.json")
    metrics.plot_confusion(
        summary["confusion"],
        summary["labels"],
        out / "confusion.png",
        f"{cfg.model}, {cfg.protocol}: summed over folds",
    )
    return summary
