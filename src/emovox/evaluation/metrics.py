"""Metrics, text reports and plots from predictions; knows nothing of models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from emovox.store.atomic import save_figure, write_json, write_text


def metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict:
    """Accuracy (WA), unweighted average recall (UA), macro F1, per-class P/R/F1, confusion."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    ks = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ks, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "uar": float(balanced_accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=ks, average="macro", zero_division=0)),
        "per_class": {
            lab: {
                "precision": float(p[k]),
                "recall": float(r[k]),
                "f1": float(f[k]),
                "support": int(s[k]),
            }
            for k, lab in enumerate(labels)
        },
        "labels": list(labels),
        "confusion": confusion_matrix(y_true, y_pred, labels=ks).tolist(),
    }


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """ECE: mean |accuracy - confidence| over equal-width confidence bins, weighted by count."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def report_text(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> str:
    """scikit-learn's classification report (the reference report's layout) + confusion."""
    ks = list(range(len(labels)))
    text = classification_report(
        y_true, y_pred, labels=ks, target_names=list(labels), digits=4, zero_division=0
    )
    cm = confusion_matrix(y_true, y_pred, labels=ks)
    width = max(len(x) for x in labels) + 1
    head = " " * width + " ".join(f"{x[:6]:>6}" for x in labels)
    rows = [
        f"{lab:>{width - 1}} " + " ".join(f"{v:6d}" for v in cm[k]) for k, lab in enumerate(labels)
    ]
    return (
        text
        + "\nConfusion matrix (rows: true, columns: predicted)\n"
        + "\n".join([head, *rows])
        + "\n"
    )


def plot_confusion(
    confusion: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str = ""
) -> None:
    """Row-normalised confusion matrix with counts, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.1 * len(labels) + 2, 1.0 * len(labels) + 1.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            colour = "white" if norm[i, j] > 0.5 else "black"
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}\n({int(cm[i, j])})",
                ha="center",
                va="center",
                fontsize=8,
                color=colour,
            )
    ax.set_title(title or "Confusion matrix (row-normalised)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    save_figure(fig, path)


def write_reports(
    out: Path,
    y_true: Sequence[int],
    y_pred: Sequence[int],
    labels: Sequence[str],
    extra: dict | None = None,
) -> dict:
    """metrics.json, report.txt and confusion.png in ``out``; returns the metrics."""
    out.mkdir(parents=True, exist_ok=True)
    m = metrics(y_true, y_pred, labels) | (extra or {})
    write_json(m, out / "metrics.json")
    write_text(out / "report.txt", report_text(y_true, y_pred, labels))
    plot_confusion(m["confusion"], labels, out / "confusion.png")
    return m


def summarise_folds(folds: list[dict]) -> dict:
    """Mean and std over folds of accuracy, UAR and macro F1, plus the summed confusion."""
    out: dict = {"n_folds": len(folds)}
    for key in ("accuracy", "uar", "macro_f1"):
        vals = np.array([f[key] for f in folds])
        out[f"{key}_mean"] = float(vals.mean())
        out[f"{key}_std"] = float(vals.std())
    out["confusion"] = np.sum([f["confusion"] for f in folds], axis=0).tolist()
    out["labels"] = folds[0]["labels"]
    if all("text_controlled" in f for f in folds):  # sentences spoken in every emotion
        out["text_controlled"] = _summary([f["text_controlled"] for f in folds])
    if all("per_corpus" in f for f in folds):  # a union of corpora: each one's own figures
        names = sorted(folds[0]["per_corpus"])
        out["per_corpus"] = {c: _summary([f["per_corpus"][c] for f in folds]) for c in names}
    out["folds"] = folds
    return out


def _summary(folds: list[dict]) -> dict:
    """:func:`summarise_folds` less the folds themselves (a part of each fold's metrics)."""
    return {k: v for k, v in summarise_folds(folds).items() if k != "folds"}


def ensemble_text(ens: dict) -> str:
    """Members and both votes side by side, and the calibration, as plain text."""
    rows = [(f"member {k}", m) for k, m in enumerate(ens["members"])]
    rows += [("soft vote", ens["soft"]), ("hard vote", ens["hard"])]
    lines = [f"{'':12} {'accuracy':>9} {'UAR':>7} {'macro-F1':>9}"]
    lines += [
        f"{name:12} {m['accuracy']:9.4f} {m['uar']:7.4f} {m['macro_f1']:9.4f}" for name, m in rows
    ]
    lines.append(
        f"soft vote ECE {ens['ece_before']:.4f} -> {ens['ece_after']:.4f} after "
        f"temperature {ens['temperature']:.3f} (fitted on the validation side)"
    )
    return "\n".join(lines) + "\n"


def summarise_ensembles(per_fold: list[dict]) -> dict:
    """Fold summaries of each member, of both votes, and mean calibration errors."""

    def brief(ms: list[dict]) -> dict:
        return {k: v for k, v in summarise_folds(ms).items() if k not in ("folds", "confusion")}

    members = [
        brief([e["members"][k] for e in per_fold]) for k in range(len(per_fold[0]["members"]))
    ]
    best = int(np.argmax([m["accuracy_mean"] for m in members]))
    return {
        "members": members,
        "best_member": best,
        "soft": brief([e["soft"] for e in per_fold]),
        "hard": brief([e["hard"] for e in per_fold]),
        "ece_before": float(np.mean([e["ece_before"] for e in per_fold])),
        "ece_after": float(np.mean([e["ece_after"] for e in per_fold])),
        "temperature_mean": float(np.mean([e["temperature"] for e in per_fold])),
    }
