"""Runs and ensembles evaluated on their test side (or on whole corpora): metrics.json,
report.txt and confusion.png. Reads run folders through :mod:`emovox.store.runs`; never imports the
training loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from emovox.data import corpora, protocols
from emovox.data.clips import Clips, load_clips
from emovox.evaluation import metrics
from emovox.models import ensemble
from emovox.models.inputs import clip_inputs, predict_proba
from emovox.models.loading import Loaded, load_checkpoint, load_members
from emovox.store.atomic import write_json
from emovox.store.cache import ArrayCache
from emovox.store.runs import RunFolder, checked_checkpoint


def split_rows(
    run: RunFolder, labels: tuple[str, ...], data_paths: list[str] | None, part: str = "test"
) -> list[corpora.Utterance]:
    """The run's ``part`` of its split, or every usable clip of the corpora ``data_paths``."""
    if data_paths:
        manifest = corpora.read_corpora(data_paths)
        return [manifest.rows[i] for i in protocols.select(manifest, labels)]
    names = set(run.read_split()[part])
    return [r for r in corpora.Manifest.read_tsv(run.manifest).rows if r.path in names]


def probabilities(
    loaded: Loaded, clips: Clips, cache: ArrayCache | None, device: torch.device
) -> np.ndarray:
    """A loaded model's probabilities on decoded clips, reading the same caches as training."""
    return predict_proba(loaded.model.to(device), *clip_inputs(loaded, clips, cache), device)


def per_corpus(
    rows: list[corpora.Utterance], y: np.ndarray, pred: np.ndarray, labels: tuple[str, ...]
) -> dict:
    """Metrics on each corpus's clips apart, when the test side holds several (a model trained
    on a union is judged on each corpus: the figures a single-corpus run is compared with)."""
    names = np.array([r.corpus for r in rows])
    if len(set(names)) < 2:
        return {}
    return {
        "per_corpus": {
            c: metrics.metrics(y[names == c], pred[names == c], labels) for c in sorted(set(names))
        }
    }


def text_controlled(
    rows: list[corpora.Utterance], y: np.ndarray, pred: np.ndarray, labels: tuple[str, ...]
) -> dict:
    """Metrics on the clips whose sentence the test side holds in every emotion of their
    corpus, when some clips are left out: where most sentences belong to one emotion (ASED),
    a model can read the words instead of the voice, and only these clips tell them apart."""
    keep = np.array(corpora.spoken_in_every_emotion(rows))
    if keep.all() or not keep.any():
        return {}
    return {"text_controlled": metrics.metrics(y[keep], pred[keep], labels)}


def _training_figures(out: Path, extra: dict | None) -> dict:
    """``extra``, or on re-evaluation the training figures the old metrics.json recorded."""
    extra = dict(extra or {})
    if not extra and (out / "metrics.json").exists():
        old = RunFolder(out).read_metrics()
        extra = {k: old[k] for k in ("train_seconds", "epochs_run") if k in old}
    return extra


def evaluate_run(
    run: str | Path,
    data_paths: list[str] | None = None,
    out: str | Path | None = None,
    device: torch.device | None = None,
    extra: dict | None = None,
    checkpoint_name: str = "model",
) -> dict:
    """Evaluate a run's kept model (or its last epoch's) (an ensemble run: every member and both
    votes) on its test split, or on whole corpora ``data_paths``.

    Writes metrics.json, report.txt and confusion.png into ``out`` (default: the run folder,
    or ``RUN/last-checkpoint`` for the last checkpoint).
    """
    run = RunFolder(run)
    if run.is_ensemble:
        return evaluate_ensemble(run.root, data_paths, out, device, checkpoint_name)
    out = run.report_dir(out, checkpoint_name)
    device = device or torch.device("cpu")
    loaded = load_checkpoint(run.checkpoint(checkpoint_name))
    labels = tuple(loaded.meta["labels"])
    clips = load_clips(split_rows(run, labels, data_paths))
    extra = _training_figures(out, extra)
    extra["decode_errors"] = [{"path": p, "cause": c} for p, c in clips.errors]
    if not clips.rows:  # protocol "all": nothing held out
        m = {"n": 0, "labels": list(labels), "note": "no test clips"} | extra
        out.mkdir(parents=True, exist_ok=True)
        write_json(m, out / "metrics.json")
        return m
    probs = probabilities(loaded, clips, run.cache(), device)
    y = np.array([labels.index(r.emotion) for r in clips.rows])
    extra |= per_corpus(clips.rows, y, probs.argmax(1), labels)
    extra |= text_controlled(clips.rows, y, probs.argmax(1), labels)
    return metrics.write_reports(out, y, probs.argmax(1), labels, extra)


def evaluate_ensemble(
    run: str | Path,
    data_paths: list[str] | None = None,
    out: str | Path | None = None,
    device: torch.device | None = None,
    checkpoint_name: str = "model",
) -> dict:
    """Members, soft vote (mean probability) and hard vote (majority, ties to the largest
    summed probability) on the test side; a temperature for the soft vote fitted on the
    validation side, with expected calibration error before and after. The run keeps the
    temperature of its kept models; that of the last ones is reported only."""
    run = RunFolder(run)
    out = run.report_dir(out, checkpoint_name)
    device = device or torch.device("cpu")
    spec, dirs = run.read_ensemble(), run.members()
    members = load_members([d.checkpoint(checkpoint_name) for d in dirs])
    labels = tuple(members[0].meta["labels"])
    cache = dirs[0].cache()
    test = load_clips(split_rows(dirs[0], labels, data_paths))
    valid = load_clips(split_rows(dirs[0], labels, None, "valid"))
    p_valid = ensemble.soft_vote([probabilities(m, valid, cache, device) for m in members])
    y_valid = np.array([labels.index(r.emotion) for r in valid.rows])
    temperature = ensemble.fit_temperature(p_valid, y_valid)
    if checked_checkpoint(checkpoint_name) == "model":
        run.write_ensemble({**spec, "temperature": temperature})
    seconds = sum(d.read_metrics().get("train_seconds", 0.0) for d in dirs)
    extra = {
        "train_seconds": round(float(seconds), 2),
        "decode_errors": [{"path": p, "cause": c} for p, c in test.errors],
    }
    if not test.rows:
        return _ensemble_without_test(out, labels, extra, temperature, p_valid, y_valid)
    p_test = [probabilities(m, test, cache, device) for m in members]
    y = np.array([labels.index(r.emotion) for r in test.rows])
    soft = ensemble.soft_vote(p_test)
    summary = {
        "n_members": len(members),
        "vote": "soft",
        "members": [metrics.metrics(y, p.argmax(1), labels) for p in p_test],
        "soft": metrics.metrics(y, soft.argmax(1), labels),
        "hard": metrics.metrics(y, ensemble.hard_vote(p_test), labels),
        "temperature": temperature,
        "ece_before": metrics.expected_calibration_error(soft, y),
        "ece_after": metrics.expected_calibration_error(
            ensemble.apply_temperature(soft, temperature), y
        ),
    }
    extra |= per_corpus(test.rows, y, soft.argmax(1), labels)
    extra |= text_controlled(test.rows, y, soft.argmax(1), labels)
    m = metrics.write_reports(out, y, soft.argmax(1), labels, extra | {"ensemble": summary})
    with open(out / "report.txt", "a") as f:
        f.write("\n" + metrics.ensemble_text(summary))
    return m


def _ensemble_without_test(
    out: Path, labels, extra: dict, temperature: float, p_valid: np.ndarray, y_valid: np.ndarray
) -> dict:
    """Protocol ``all``: only the calibration on the validation side can be reported."""
    calibrated = ensemble.apply_temperature(p_valid, temperature)
    m = {
        "n": 0,
        "labels": list(labels),
        "note": "no test clips",
        **extra,
        "ensemble": {
            "temperature": temperature,
            "valid_ece_before": metrics.expected_calibration_error(p_valid, y_valid),
            "valid_ece_after": metrics.expected_calibration_error(calibrated, y_valid),
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(m, out / "metrics.json")
    return m
