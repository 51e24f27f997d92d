"""A prosodic view beside the encoder, on voices the model never heard: openSMILE's eGeMAPS
functionals (88 values a clip; ``pip install opensmile``) with a logistic regression trained on
the two training corpora of each leave-one-corpus-out run, alone and fused late with the run's
own plain answers (``benchmarks/loco.py``): class UA and binary arousal UA per held-out corpus.
Features are standardised over the training clips (plain) or per speaker (normalised: each
speaker's own mean and spread, as a speaker-adapted reading would).

    python benchmarks/loco.py --name default-x3 --set ensemble=3         # the runs, once
    python benchmarks/label_shift.py runs/loco/default-x3                # caches their answers
    python benchmarks/prosody.py runs/loco/default-x3                    # this table
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cross_corpus import adapted  # noqa: E402
from label_shift import answers  # noqa: E402
from loco import CORPORA, arousal_ua, statistics  # noqa: E402

from emovox.data.corpora import read_corpus  # noqa: E402
from emovox.data.labels import AROUSAL, axes  # noqa: E402
from emovox.evaluation.metrics import metrics  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5, 1.0)  # the prosodic view's weight in the late fusion
# the views: all 88 functionals, and eGeMAPSv02's temporal six alone (loudness peaks and voiced
# segments per second, voiced and unvoiced segments' mean and spread of length: pauses and
# rhythm, where sadness showed across corpora)
AROUSAL_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)  # the arousal-only input's weight
VIEWS = {"eGeMAPS": slice(None), "pauses and rhythm": slice(81, 87)}


def egemaps(cache: Path) -> dict[str, np.ndarray]:
    """eGeMAPS functionals of every clip of the three corpora, by path (extracted once)."""
    if cache.exists():
        got = np.load(cache)
        return {str(Path(p).resolve()): x for p, x in zip(got["paths"], got["x"], strict=True)}
    import opensmile
    import soundfile as sf

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    out = {}
    for root in CORPORA.values():
        for row in read_corpus(root).rows:
            x, sr = sf.read(row.path, dtype="float32", always_2d=True)
            got = smile.process_signal(x.mean(1), sr).to_numpy()[0]
            out[str(Path(row.path).resolve())] = got.astype(np.float32)
    np.savez(cache, paths=np.array(list(out)), x=np.stack(list(out.values())))
    return out


def standardised(x: np.ndarray, speakers: list[str] | None, ref=None) -> np.ndarray:
    """Over ``ref`` (mean, std) or per speaker."""
    if speakers is None:
        mu, sd = ref
        return (x - mu) / sd
    out = np.empty_like(x)
    for s in set(speakers):
        m = np.array([t == s for t in speakers])
        out[m] = (x[m] - x[m].mean(0)) / (x[m].std(0) + 1e-6)
    return out


def matrices(feats: dict, train_rows, test_rows, per_speaker: bool, cols=slice(None)) -> tuple:
    """The training and test clips' functionals (``cols`` of them), standardised over the
    training clips, or per speaker."""

    def stack(rows) -> np.ndarray:
        return np.stack([feats[str(Path(r.path).resolve())][cols] for r in rows]).astype(float)

    xtr, xte = stack(train_rows), stack(test_rows)
    if per_speaker:
        xtr = standardised(xtr, [r.corpus + r.speaker for r in train_rows])
        return xtr, standardised(xte, [r.speaker for r in test_rows])
    ref = xtr.mean(0), xtr.std(0) + 1e-6
    return standardised(xtr, None, ref), standardised(xte, None, ref)


def regression(x: np.ndarray, y: list):
    """A class-balanced logistic regression (one setting for every view)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=0.1, max_iter=2000, class_weight="balanced").fit(x, y)


def view(
    feats: dict, train_rows, test_rows, labels: list[str], per_speaker: bool, cols=slice(None)
) -> np.ndarray:
    """The prosodic view's class probabilities (test clips, ``labels``), from a logistic
    regression trained on ``train_rows`` (class-balanced)."""
    xtr, xte = matrices(feats, train_rows, test_rows, per_speaker, cols)
    lr = regression(xtr, [r.emotion for r in train_rows])
    p = lr.predict_proba(xte)
    out = np.full((len(test_rows), len(labels)), 1e-3)  # a class the corpora lack: not zero
    for i, lab in enumerate(lr.classes_):
        out[:, labels.index(lab)] = p[:, i]
    return out / out.sum(1, keepdims=True)


def _fused(table: dict, held: str, base, pros, what: str, per_speaker: bool, y, labels) -> None:
    """Rows of the table for one view beside the encoder's answers ``base``, and alone."""
    truth = [labels[i] for i in y]
    present = sorted(set(truth))
    tag = "speaker-normalised" if per_speaker else "plain"
    enc = "encoder adapted to the speaker" if per_speaker else "encoder plain"
    for w in WEIGHTS:
        fused = np.exp(np.log(base + 1e-9) + w * np.log(pros))
        fused /= fused.sum(1, keepdims=True)
        name = f"{enc} + {what} ({tag}) x {w:g}" if w else enc
        table.setdefault(name, {})[held] = _scored(fused, y, labels, truth, present)
    table.setdefault(f"{what} alone ({tag})", {})[held] = _scored(pros, y, labels, truth, present)


def _scored(probs, y, labels, truth, present) -> tuple:
    m = metrics(y, probs.argmax(1), labels)
    ua = float(np.mean([m["per_class"][k]["recall"] for k in present]))
    low = min((m["per_class"][k]["recall"], k) for k in present)
    return ua, arousal_ua(probs @ axes(labels)[:, 0], truth), low


def arousal_only(feats: dict, engine, inputs, rows, train_rows, truth, per_speaker) -> list:
    """The prosodic view as an arousal-only input: a class-balanced logistic regression of
    high against low arousal on eGeMAPS, its P(high) - P(low) added to the trained arousal
    head's score at each weight of AROUSAL_WEIGHTS; binary arousal UA at each."""
    train = [r for r in train_rows if AROUSAL.get(r.emotion, 0) != 0]
    xtr, xte = matrices(feats, train, rows, per_speaker)
    lr = regression(xtr, [AROUSAL[r.emotion] > 0 for r in train])
    score = 2 * lr.predict_proba(xte)[:, 1] - 1
    head = engine.dimension_scores(inputs)[:, 0]
    return [arousal_ua(head + w * score, truth) for w in AROUSAL_WEIGHTS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("runs", type=Path, help="a benchmarks/loco.py name folder (runs/loco/NAME)")
    ap.add_argument("--features", type=Path, default=Path("runs/egemaps.npz"))
    args = ap.parse_args()
    feats = egemaps(args.features)
    every = {c: read_corpus(root).rows for c, root in CORPORA.items()}
    table: dict[str, dict[str, tuple]] = {}
    aro: dict[bool, list] = {}  # per_speaker -> per held-out corpus, UA at each weight
    for held in sorted(p for p in args.runs.iterdir() if (p / "metrics.json").exists()):
        got = answers(held)
        labels, y = got["labels"], got["y"]
        engine, inputs, rows = statistics(held)
        # the encoder's answers adapted to each speaker (10 of their clips), as loco.py's
        speakers = [r.speaker for r in rows]
        own = engine.classify(adapted(engine, inputs, speakers, 0), True)[0]
        train_rows = [r for c, rs in every.items() if c != held.name for r in rs
                      if r.emotion in labels]  # fmt: skip
        truth = [labels[i] for i in y]
        for per_speaker in (False, True):
            got_ar = arousal_only(feats, engine, inputs, rows, train_rows, truth, per_speaker)
            aro.setdefault(per_speaker, []).append(got_ar)
            base = own if per_speaker else got["plain"]  # each beside its like
            for what, cols in VIEWS.items():
                pros = view(feats, train_rows, rows, labels, per_speaker, cols)
                _fused(table, held.name, base, pros, what, per_speaker, y, labels)
    names = sorted({n for t in table.values() for n in t})
    print("| answers | " + " | ".join(f"{n} UA / arousal / lowest" for n in names)
          + " | mean UA | mean arousal |")  # fmt: skip
    print("|---|" + "---|" * (len(names) + 2))
    for way, cells in table.items():
        row = [f"{100 * c[0]:.1f} / {100 * c[1]:.1f} / {c[2][1]} {100 * c[2][0]:.0f}"
               for c in (cells[n] for n in names)]  # fmt: skip
        ua = 100 * np.mean([c[0] for c in cells.values()])
        ar = 100 * np.mean([c[1] for c in cells.values()])
        print(f"| {way} | " + " | ".join(row) + f" | {ua:.1f} | {ar:.1f} |")
    print("\narousal-only input beside the trained arousal head (plain answers), binary arousal")
    for per_speaker, per in aro.items():
        tag = "speaker-normalised" if per_speaker else "plain"
        means = 100 * np.mean(per, 0)
        print(f"eGeMAPS {tag}: " + ", ".join(
            f"x {w:g} {m:.1f}%" for w, m in zip(AROUSAL_WEIGHTS, means, strict=True)))  # fmt: skip


if __name__ == "__main__":
    main()
