"""What a trained model relies on, measured: permutation importance on the test side.

For each handcrafted feature group (MFCC, deltas, energy, contrast, ZCR, chroma), each pooled
encoder layer, and each whole pathway, the inputs of that part are shuffled across the test
clips (so they no longer belong to the clip, but keep their distribution) and the drop in
macro-F1 and in each emotion's recall and F1 is recorded, averaged over repeats. Frame-level
feature groups are moved to the receiving clip's length by index resampling.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from emovox.data.clips import load_clips
from emovox.evaluation import metrics
from emovox.features.handcrafted import FeatureConfig
from emovox.models.inputs import clip_inputs, predict_proba
from emovox.models.loading import Loaded, load_checkpoint, reads_pooled
from emovox.store.atomic import save_figure, write_json
from emovox.store.runs import RunFolder


def _resample(frames: np.ndarray, n: int) -> np.ndarray:
    """(t, k) -> (n, k) by nearest index, so a donor clip's frames fit a receiver's length."""
    idx = np.minimum((np.arange(n) * len(frames)) // max(n, 1), len(frames) - 1)
    return frames[idx]


def parts(loaded: Loaded) -> dict[str, tuple[str, slice | None]]:
    """Name -> (input, columns) the model reads: feature groups, encoder layers, pathways."""
    model = loaded.model
    out: dict[str, tuple[str, slice | None]] = {}
    cnn = loaded.reads_features
    if cnn:
        for group, cols in FeatureConfig.from_dict(loaded.meta["feature_config"]).slices().items():
            out[f"feature:{group}"] = ("feats", cols)
    if loaded.encoder is not None:
        if reads_pooled(model):
            for k, layer in enumerate(model.enc.layers):
                out[f"encoder layer {layer}"] = ("states", slice(k, k + 1))
        if cnn:
            out["pathway:cnn_lstm"] = ("feats", None)
        out["pathway:encoder"] = ("states", None)
    return out


def permuted(
    arrays: list[np.ndarray], cols: slice | None, perm: np.ndarray, frame_level: bool
) -> list[np.ndarray]:
    """Copies of ``arrays`` whose ``cols`` (all when None) come from clip ``perm[i]``."""
    out = []
    for i, a in enumerate(arrays):
        donor = arrays[perm[i]]
        if cols is None:
            out.append(donor)
            continue
        b = a.copy()
        if frame_level:
            b[:, cols] = _resample(donor[:, cols], len(a))
        else:
            b[cols] = donor[cols]
        out.append(b)
    return out


def permutation_importance(
    predict: Callable[[list[np.ndarray] | None, list[np.ndarray] | None], np.ndarray],
    feats: list[np.ndarray] | None,
    states: list[np.ndarray] | None,
    y: np.ndarray,
    labels: tuple[str, ...],
    named_parts: dict[str, tuple[str, slice | None]],
    repeats: int = 3,
    seed: int = 0,
) -> dict:
    """Baseline metrics and, per part, the mean drop of macro-F1 and per-emotion recall/F1."""
    base = metrics.metrics(y, predict(feats, states).argmax(1), labels)
    rng = np.random.default_rng(seed)
    drops: dict = {}
    for name, (which, cols) in named_parts.items():
        runs = []
        for _ in range(repeats):
            perm = rng.permutation(len(y))
            if which == "feats":
                f, s = permuted(feats, cols, perm, frame_level=True), states
            else:
                f, s = feats, permuted(states, cols, perm, frame_level=False)
            runs.append(metrics.metrics(y, predict(f, s).argmax(1), labels))
        drops[name] = {
            "macro_f1": base["macro_f1"] - float(np.mean([r["macro_f1"] for r in runs])),
            "accuracy": base["accuracy"] - float(np.mean([r["accuracy"] for r in runs])),
            "recall": {
                lab: base["per_class"][lab]["recall"]
                - float(np.mean([r["per_class"][lab]["recall"] for r in runs]))
                for lab in labels
            },
            "f1": {
                lab: base["per_class"][lab]["f1"]
                - float(np.mean([r["per_class"][lab]["f1"] for r in runs]))
                for lab in labels
            },
        }
    return {"baseline": base, "drops": drops, "repeats": repeats}


def confused_pairs(confusion: list[list[int]], labels: tuple[str, ...], top: int = 5) -> list:
    """The emotion pairs most often mistaken for each other (both directions summed)."""
    cm = np.asarray(confusion)
    pairs = []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            n = int(cm[i, j] + cm[j, i])
            if n:
                pairs.append(
                    {
                        "pair": [labels[i], labels[j]],
                        "count": n,
                        f"{labels[i]}->{labels[j]}": int(cm[i, j]),
                        f"{labels[j]}->{labels[i]}": int(cm[j, i]),
                    }
                )
    return sorted(pairs, key=lambda p: -p["count"])[:top]


def plot(result: dict, labels: tuple[str, ...], path: Path) -> None:
    """Recall drops (parts x emotions), the macro-F1 drop per part, most confused pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["drops"])
    grid = np.array([[result["drops"][n]["recall"][lab] for lab in labels] for n in names])
    f1 = [result["drops"][n]["macro_f1"] for n in names]
    pairs = result.get("confused_pairs", [])
    fig, (ax, bx, cx) = plt.subplots(
        1,
        3,
        figsize=(7 + 1.0 * len(labels), 1.5 + 0.45 * max(len(names), len(pairs))),
        gridspec_kw={"width_ratios": [len(labels), 3, 3]},
    )
    lim = max(0.05, float(np.abs(grid).max()))
    im = ax.imshow(grid, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(labels)):
            ax.text(j, i, f"{grid[i, j]:+.2f}", ha="center", va="center", fontsize=7)
    ax.set_title("recall drop when permuted")
    fig.colorbar(im, ax=ax, fraction=0.03)
    bx.barh(range(len(names)), f1, color="tab:blue")
    bx.set_yticks(range(len(names)), [])
    bx.invert_yaxis()
    bx.set_title("macro-F1 drop")
    cx.barh(range(len(pairs)), [p["count"] for p in pairs], color="tab:orange")
    cx.set_yticks(range(len(pairs)), ["/".join(p["pair"]) for p in pairs])
    cx.invert_yaxis()
    cx.set_title("most confused pairs (test clips)")
    save_figure(fig, path)


def analyze_run(
    run: str | Path, test_rows: list, cache, repeats: int = 3, out: str | Path | None = None
) -> dict:
    """Permutation importance of a run's kept model on ``test_rows``; writes
    ``analysis.json`` and ``analysis.png`` into ``out`` (default: the run folder)."""
    run = Path(run)
    out = Path(out) if out else run
    loaded = load_checkpoint(RunFolder(run).checkpoint("model"))
    labels = tuple(loaded.meta["labels"])
    clips = load_clips(test_rows)
    named = parts(loaded)
    feats, states = clip_inputs(loaded, clips, cache)
    device = torch.device("cpu")

    def predict(f, s):
        return predict_proba(loaded.model, f, s, device)

    y = np.array([labels.index(r.emotion) for r in clips.rows])
    result = permutation_importance(predict, feats, states, y, labels, named, repeats)
    result["confused_pairs"] = confused_pairs(result["baseline"]["confusion"], labels)
    result["run"] = str(run)
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "analysis.json")
    plot(result, labels, out / "analysis.png")
    return result


def summary_text(result: dict) -> str:
    """Parts by macro-F1 drop, each with the emotions it matters most for."""
    lines = [
        f"baseline macro-F1 {result['baseline']['macro_f1']:.4f} "
        f"(accuracy {result['baseline']['accuracy']:.4f})"
    ]
    for name, d in sorted(result["drops"].items(), key=lambda kv: -kv[1]["macro_f1"]):
        top = sorted(d["recall"].items(), key=lambda kv: -kv[1])[:2]
        most = ", ".join(f"{lab} {v:+.3f}" for lab, v in top)
        lines.append(f"{name:24} F1 drop {d['macro_f1']:+.4f}   recall drop: {most}")
    lines.append(
        "most confused: "
        + "; ".join(f"{p['pair'][0]}/{p['pair'][1]} {p['count']}" for p in result["confused_pairs"])
    )
    return "\n".join(lines)
