"""Label-shift correction on folders of voices the model never heard: each held-out corpus of
the leave-one-corpus-out runs (``benchmarks/loco.py``) is cut into folders of ``--size`` clips,
balanced, 70% neutral or 70% angry (and folders of one emotion), and each folder's answers are
corrected to its estimated class prior by each estimator. Estimators that read the answers
through confusion matrices (BBSE) take them from the *other* held-out corpora only, never from
the folder's own. Per corpus and mix: UA over the folder's classes, and the share of its
neutral clips given an emotion.

    python benchmarks/loco.py --name default-x3 --set ensemble=3     # the runs, once
    python benchmarks/label_shift.py runs/loco/default-x3            # the table
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loco import statistics  # noqa: E402

from emovox.infer import prior  # noqa: E402
from emovox.infer.config import AnalysisConfig  # noqa: E402
from emovox.infer.steps import Steps  # noqa: E402

MIXES = ("balanced", "neutral70", "angry70")


def answers(run: Path) -> dict:
    """A held-out corpus's clips as the run answers them, read alone ("plain") and adapted to
    the whole corpus as one folder, with the truth; the answers cached beside the run."""
    cache = run / "label_shift_answers.npz"
    engine, inputs, rows = statistics(run)
    steps = Steps(engine, AnalysisConfig(adapt="folder"))
    labels = list(engine.labels)
    out = {"labels": labels, "y": np.array([labels.index(r.emotion) for r in rows])}
    if cache.exists():
        got = np.load(cache)
        out.update(plain=got["plain"], corpus=got["corpus"])
    else:
        out["plain"] = steps.classify(inputs).probabilities
        out["corpus"] = steps.classify(steps.adapt(inputs), True).probabilities
        np.savez(cache, plain=out["plain"], corpus=out["corpus"])
    out["steps"], out["inputs"] = steps, inputs
    return out


def confusions(others: list[dict], labels: list[str], way: str = "plain") -> np.ndarray:
    """BBSE's confusion matrix for a folder of one held-out corpus, from the others: column j
    is the mean answer (in ``labels``' space) for their clips of class j, each corpus weighing
    the same; a class none of them holds gets the mean diagonal, the rest spread evenly."""
    k = len(labels)
    cols: list[list[np.ndarray]] = [[] for _ in range(k)]
    for o in others:
        p = np.zeros((len(o["y"]), k))
        for i, lab in enumerate(o["labels"]):
            if lab in labels:
                p[:, labels.index(lab)] = o[way][:, i]
        p /= np.maximum(p.sum(1, keepdims=True), 1e-9)
        for c in set(o["y"].tolist()):
            if o["labels"][c] in labels:
                cols[labels.index(o["labels"][c])].append(p[o["y"] == c].mean(0))
    diag = float(np.mean([np.mean(c, 0)[j] for j, c in enumerate(cols) if c]))
    m = np.full((k, k), (1 - diag) / (k - 1))
    np.fill_diagonal(m, diag)
    for j, c in enumerate(cols):
        if c:
            m[:, j] = np.mean(c, 0)
    return m


def bbse(probs: np.ndarray, conf: np.ndarray, ridge: float) -> np.ndarray:
    """BBSE with RLLS's pull toward the balanced prior: the prior q on the simplex that
    best explains the mean answer through ``conf`` (non-negative least squares, the sum
    constraint as a heavily weighted row)."""
    k = len(conf)
    a = np.vstack([conf, np.sqrt(ridge) * np.eye(k), 1e3 * np.ones((1, k))])
    b = np.concatenate([probs.mean(0), np.sqrt(ridge) * np.full(k, 1 / k), [1e3]])
    q = nnls(a, b)[0]
    return q / q.sum()


def em(probs: np.ndarray, steps: int = 100) -> np.ndarray:
    """Saerens et al.'s EM estimate of a folder's prior (trusts the answers as calibrated)."""
    k = probs.shape[1]
    q = np.full(k, 1 / k)
    for _ in range(steps):
        q = prior.reweight(probs, q, np.full(k, 1 / k)).mean(0)
    return q


def draw(y: np.ndarray, labels: list[str], mix: str, size: int, rng) -> np.ndarray:
    """Indices of one folder of ``size`` clips: the classes equal, or one class 70%."""
    present = sorted(set(y.tolist()))
    if mix == "balanced":
        per = {c: size // len(present) for c in present}
    else:
        top = labels.index(mix.removesuffix("70"))
        rest = [c for c in present if c != top]
        per = {c: round(0.3 * size / len(rest)) for c in rest}
        per[top] = size - sum(per.values())
    return np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False)
                           for c, n in per.items()])  # fmt: skip


def scores(probs: np.ndarray, y: np.ndarray, labels: list[str]) -> tuple[float, float]:
    """UA over the classes present, and the share of neutral clips given an emotion."""
    pred = probs.argmax(1)
    ua = float(np.mean([(pred[y == c] == c).mean() for c in set(y.tolist())]))
    neutral = y == labels.index("neutral")
    return ua, float((pred[neutral] != labels.index("neutral")).mean())


def ways(folder: dict, idx: np.ndarray, conf: np.ndarray, ridge: float) -> dict:
    """Each estimator's answers for one folder."""
    steps, inputs = folder["steps"], [x[idx] for x in folder["inputs"]]
    plain = folder["plain"][idx]
    adapted = steps.classify(steps.adapt(inputs), True).probabilities
    labels = tuple(folder["labels"])
    uniform = np.full(len(labels), 1 / len(labels))
    return {
        "plain": plain,
        "plain + EM (Saerens)": prior.reweight(plain, em(plain), uniform),
        "plain + BBSE/RLLS (others' confusions)": prior.reweight(
            plain, bbse(plain, conf, ridge), uniform
        ),
        "plain + assumed balanced": prior.reweight(plain, uniform, plain.mean(0)),
        "**plain + emovox (--prior group)**": prior.correct(plain, labels).probabilities,
        "folder-adapted (--adapt folder)": adapted,
        "folder-adapted + emovox": prior.correct(adapted, labels).probabilities,
    }


def one_emotion(got: dict, size: int, rng) -> str:
    """Folders of one emotion: the recall of that emotion, plain and corrected, and how
    many the guard read plain."""
    before, after, guarded, n = [], [], 0, 0
    for f in got.values():
        for c in sorted(set(f["y"].tolist())):
            idx = rng.choice(np.flatnonzero(f["y"] == c), size, replace=False)
            p = f["plain"][idx]
            shift = prior.correct(p, tuple(f["labels"]))
            before.append((p.argmax(1) == c).mean())
            after.append((shift.probabilities.argmax(1) == c).mean())
            guarded, n = guarded + (not shift.applied), n + 1
    mean = 100 * np.mean(before)
    return (f"folders of one emotion ({n}, {size} clips each): its recall {mean:.1f}% plain,"
            f" {100 * np.mean(after):.1f}% with --prior group; {guarded} of {n} read "
            "plain by the guard")  # fmt: skip


def offsets(got: dict) -> str:
    """The decision's bias as per-class offsets on the log answers, fitted on two held-out
    corpora's answers (each class of each weighing the same) and applied to the third's: does
    the model's off-corpus bias carry from corpus to corpus? UA plain and offset."""
    from scipy.optimize import minimize

    def logs(o: dict, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
        p = np.full((len(o["y"]), len(labels)), 1e-6)
        for i, lab in enumerate(o["labels"]):
            if lab in labels:
                p[:, labels.index(lab)] = o["plain"][:, i]
        keep = np.array([o["labels"][c] in labels for c in o["y"]])
        y = np.array([labels.index(o["labels"][c]) for c in o["y"][keep]])
        return np.log(p[keep] / p[keep].sum(1, keepdims=True)), y

    def loss(b: np.ndarray, others: list) -> float:
        total = 0.0
        for lp, y in others:
            z = lp + b
            z = z - z.max(1, keepdims=True)
            z = z - np.log(np.exp(z).sum(1, keepdims=True))
            total -= np.mean([z[y == c, c].mean() for c in set(y.tolist())])
        return total / len(others)

    lines = []
    for name, f in got.items():
        others = [logs(o, f["labels"]) for n, o in got.items() if n != name]
        b = minimize(loss, np.zeros(len(f["labels"])), args=(others,), method="L-BFGS-B").x
        lp, y = logs(f, f["labels"])
        before, after = (scores(np.exp(z), y, f["labels"])[0] for z in (lp, lp + b))
        lines.append(f"{name} {100 * before:.1f}% -> {100 * after:.1f}%")
    return "per-class offsets fitted on the other held-out corpora, UA plain -> offset: " + (
        ", ".join(lines)
    )


def whole(got: dict) -> str:
    """Each held-out corpus read as one folder: per-class recall plain and with --prior
    group, and UA."""
    labels = sorted({lab for f in got.values() for lab in f["labels"]})
    lines = ["| held out | answers | " + " | ".join(labels) + " | UA |",
             "|---|---|" + "---|" * (len(labels) + 1)]  # fmt: skip
    for name, f in got.items():
        corrected = prior.correct(f["plain"], tuple(f["labels"])).probabilities
        for way, p in (("plain", f["plain"]), ("--prior group", corrected)):
            pred, y = p.argmax(1), f["y"]
            rec = {f["labels"][c]: (pred[y == c] == c).mean() for c in set(y.tolist())}
            cells = [f"{100 * rec[lab]:.1f}" if lab in rec else "-" for lab in labels]
            ua = 100 * np.mean(list(rec.values()))
            lines.append(f"| {name} | {way} | " + " | ".join(cells) + f" | {ua:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("runs", type=Path, help="a benchmarks/loco.py name folder (runs/loco/NAME)")
    ap.add_argument("--size", type=int, default=120, help="clips per folder")
    ap.add_argument("--draws", type=int, default=20, help="folders per corpus and mix")
    ap.add_argument("--ridge", type=float, default=0.1, help="RLLS's pull (BBSE's row)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    held = [p for p in sorted(args.runs.iterdir()) if (p / "metrics.json").exists()]
    got = {p.name: answers(p) for p in held}
    table: dict[str, dict[str, list]] = {}
    rng = np.random.default_rng(args.seed)
    for name, f in got.items():
        conf = confusions([o for n, o in got.items() if n != name], f["labels"])
        for mix in MIXES:
            for _ in range(args.draws):
                idx = draw(f["y"], f["labels"], mix, args.size, rng)
                for way, p in ways(f, idx, conf, args.ridge).items():
                    cell = table.setdefault(way, {}).setdefault(f"{name} {mix}", [])
                    cell.append(scores(p, f["y"][idx], f["labels"]))
    cols = [f"{n} {m}" for m in MIXES for n in got]
    print(f"folders of {args.size} clips, {args.draws} draws each: UA % / neutral clips "
          "given an emotion %\n")  # fmt: skip
    print("| answers | " + " | ".join(cols) + " | mean UA balanced / 70% neutral / 70% angry |")
    print("|---|" + "---|" * (len(cols) + 1))
    for way, cells in table.items():
        row, means = [], {m: [] for m in MIXES}
        for c in cols:
            ua, neu = np.mean(cells[c], 0)
            row.append(f"{100 * ua:.1f} / {100 * neu:.0f}")
            means[c.split()[1]].append(ua)
        mean = " / ".join(f"{100 * np.mean(v):.1f}" for v in means.values())
        print(f"| {way} | " + " | ".join(row) + f" | {mean} |")
    print("\n" + one_emotion(got, 60, rng))
    print(offsets(got))
    print("\neach held-out corpus as one folder, recall per class %:\n\n" + whole(got))


if __name__ == "__main__":
    main()
