"""Leave-one-corpus-out: the generalisation benchmark that chooses emovox's defaults. Each
corpus (RAVDESS, ASED, nEMO) is held out in turn: a model is trained on the other two and
tested on all of the held-out one, on the classes it shares with them. Per held-out corpus:
UA and per-class recall as trained (plain) and adapted to each test speaker from 10 of their
unlabelled clips, and binary arousal UA (high: angry, fear, happy, surprise; low: neutral,
sad, calm; ``emovox.data.labels.AROUSAL``) from the same probabilities. One command prints the
whole table; ``--set`` tries a lever (any training config key), ``--name`` files it.

    python benchmarks/loco.py --name default --calibrate --recordings 20 12  # the default recipe
    python benchmarks/loco.py --name ls02 --set optim.label_smoothing=0.2
    python benchmarks/loco.py --name default-x3 --set ensemble=3 --calibrate  # the bundled one's
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cross_corpus import ENROLL, adapted  # noqa: E402
from timeline import actor_recordings  # noqa: E402

from emovox.audio.frontend import Frontend  # noqa: E402
from emovox.cli.commands import _set_value  # noqa: E402
from emovox.data import clips as clipdata  # noqa: E402
from emovox.data import demo  # noqa: E402
from emovox.data.corpora import Manifest  # noqa: E402
from emovox.data.labels import AROUSAL, axes  # noqa: E402
from emovox.evaluation.metrics import expected_calibration_error, metrics  # noqa: E402
from emovox.infer import torch_engine  # noqa: E402
from emovox.infer.adapt import REFERENCES  # noqa: E402
from emovox.infer.analyzer import AnalysisConfig, Analyzer  # noqa: E402
from emovox.infer.config import PRIORS  # noqa: E402
from emovox.infer.engine import Engine  # noqa: E402
from emovox.models.ensemble import apply_temperature  # noqa: E402
from emovox.models.inputs import encoder_inputs  # noqa: E402
from emovox.store.runs import RunFolder  # noqa: E402
from emovox.store.typed import merge  # noqa: E402
from emovox.train import config, experiments  # noqa: E402

CORPORA = {
    "nemo": "../shared/datasets/nemo",
    "ased": "../shared/datasets/ased",
    "ravdess": "../shared/datasets/ravdess",
}


def train(held: str, out: Path, overrides: dict) -> Path:
    """The run that holds ``held`` out (trained once; a finished run is reused)."""
    if not (out / "metrics.json").exists():
        flags = {"data": list(CORPORA.values()), "protocol": "cross-corpus",
                 "test_corpus": held, "labels": 7}  # fmt: skip
        cfg = config.load_config(None, merge(flags, overrides))
        experiments.run(cfg, out)
    return out


def statistics(run: Path) -> tuple[Engine, list[np.ndarray], list]:
    """The run's predictor, each member's raw statistics of the test clips (from the cache
    training filled) and the clips' manifest rows."""
    folder = RunFolder(run)
    members = folder.members() if folder.is_ensemble else [folder]
    test = set(members[0].read_split()["test"])
    rows = [r for r in Manifest.read_tsv(members[0].manifest).rows if r.path in test]
    clips = clipdata.load_clips(rows)
    predictor, cache = torch_engine.load(run), members[0].cache()
    inputs = []
    for m in predictor.backend.members:  # one loaded model per member, as the predictor holds them
        through = clips.through(Frontend.from_meta(m.meta))
        states, _ = encoder_inputs(m.model, m.encoder, m.meta["encoder"],
                                   through.waves, through.keys, cache)  # fmt: skip
        inputs.append(np.stack([s.reshape(-1) for s in states]).astype(np.float32))
    return predictor, inputs, clips.rows


def arousal_ua(arousal: np.ndarray, truth: list[str]) -> float | None:
    """Binary arousal UA from arousal scores in [-1, 1] (high when > 0), on clips of a high or
    low label: the class probabilities' place (``probs @ axes(labels)``) or a trained head's."""
    pred = arousal > 0
    y = np.array([AROUSAL[e] for e in truth])
    keep = y != 0
    if not keep.any():
        return None
    hits = [(pred[keep] == want)[y[keep] == (1 if want else -1)].mean() for want in (True, False)]
    return float(np.mean(hits))


def recordings(
    run: Path, clips: int, speakers: int, reference: str = "mean", prior: str = "model"
) -> dict:
    """Speech frames right on recordings of held-out speakers (each speaker's ``clips`` clips,
    drawn at random, joined with pauses and noise bursts: benchmarks/timeline.py), the first
    ``speakers`` of the corpus, analysed as ``emovox predict`` does: plain, and adapted to the
    recording (its default)."""
    recs = actor_recordings(RunFolder(run), (0.6, 2.0), clips, speakers)
    predictor = torch_engine.load(run)
    out = {"recordings": len(recs)}
    ways = (("plain", "none"), ("adapted", "recording"))
    if all(predictor.speaker_normalised()):  # no plain answer without the speaker's voice
        ways = ways[1:]
    for name, adapt in ways:
        cfg = AnalysisConfig(adapt=adapt, reference=reference, prior=prior)
        out[name] = frames_right(Analyzer(predictor, cfg), recs)
    return out


def frames_right(analyzer: Analyzer, recs: list) -> float:
    """The mean share of speech frames whose timeline emotion is the clip's, over recordings
    with known truth (``emovox.data.demo``), analysed as ``emovox predict`` does."""
    scores = [demo.score(analyzer.predict(r.wave, sr=16000), r.truth, len(r.wave) / 16000)
              for r in recs]  # fmt: skip
    return float(np.mean([x["frame_accuracy"] for x in scores]))


def score(run: Path, seed: int, raw: dict | None = None) -> dict:
    """The held-out corpus's row of the table; ``raw`` gets the plain answers before any
    temperature (probabilities, truth) for :func:`calibrate`."""
    predictor, inputs, rows = statistics(run)
    labels, truth = predictor.labels, [r.emotion for r in rows]
    y = np.array([labels.index(e) for e in truth])
    out = {"clips": len(y), "labels": list(labels)}
    normalised = all(predictor.speaker_normalised())
    ways = {
        "adapted": adapted(predictor, inputs, [r.speaker for r in rows], seed),
        # one reference for the whole held-out corpus (one channel, many speakers), as
        # emovox predict --adapt folder reads a folder of one source
        "channel": adapted(predictor, inputs, ["corpus"] * len(rows), seed, CHANNEL),
    }
    if not normalised:  # a speaker-normalised head has no answer without enrollment
        ways["plain"] = inputs
    if raw is not None and "plain" in ways:
        fitted, predictor.backend.temperature = predictor.temperature, 1.0
        raw["probs"], raw["y"] = predictor.classify(inputs)[0], y
        predictor.backend.temperature = fitted
    for name, x in ways.items():
        probs = predictor.classify(x, name != "plain")[0]  # adapted: every kind of head votes
        m = metrics(y, probs.argmax(1), labels)
        present = sorted(set(truth))
        out[name] = {
            "ua": m["uar"],
            "recall": {k: m["per_class"][k]["recall"] for k in labels if k in present},
            "arousal_ua": arousal_ua(probs @ axes(labels)[:, 0], truth),
        }
        dims = predictor.dimension_scores(x, name != "plain")
        if dims is not None:  # the trained arousal head's own answer, beside the derived one
            out[name]["arousal_head_ua"] = arousal_ua(dims[:, 0], truth)
    return out


THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7)
CHANNEL = 50  # unlabelled clips of the held-out corpus that adapt to it as one channel


def calibrate(raw: dict[str, dict], target: float) -> tuple[dict, str]:
    """One temperature for every held-out corpus (the negative log-likelihood of their
    plain answers, each corpus weighted equally), and the "unsure" gate: the lowest
    threshold on the calibrated top probability at which the answered clips of a held-out
    corpus are right at least ``target`` of the time, on the mean over the corpora (the
    highest listed when none is). Returns (calibration.json, a risk-coverage table)."""
    # the held-out runs differ in label set, so one scalar is fitted on the sum of each
    # corpus's mean negative log-likelihood (each corpus weighs the same), on a grid
    grid = np.exp(np.linspace(np.log(0.2), np.log(5.0), 321))
    nll = [sum(-np.log(apply_temperature(r["probs"], x)[np.arange(len(r["y"])), r["y"]] + 1e-12)
               .mean() for r in raw.values()) for x in grid]  # fmt: skip
    t = float(grid[int(np.argmin(nll))])
    lines = ["| held out | ECE before / after | " + " | ".join(
        f"answered / right at {x:.1f}" for x in THRESHOLDS) + " |",
        "|---|---|" + "---|" * len(THRESHOLDS)]  # fmt: skip
    right_at = {x: [] for x in THRESHOLDS}
    for k, r in raw.items():
        p = apply_temperature(r["probs"], t)
        top, hit = p.max(1), p.argmax(1) == r["y"]
        cells = []
        for x in THRESHOLDS:
            kept = top >= x
            right = float(hit[kept].mean()) if kept.any() else float("nan")
            right_at[x].append(right)
            cells.append(f"{100 * kept.mean():.0f}% / {100 * right:.1f}%")
        before = expected_calibration_error(r["probs"], r["y"])
        after = expected_calibration_error(p, r["y"])
        lines.append(f"| {k} | {before:.3f} / {after:.3f} | " + " | ".join(cells) + " |")
    ok = [x for x in THRESHOLDS if np.mean(right_at[x]) >= target]
    gate = ok[0] if ok else THRESHOLDS[-1]
    how = (
        f"fitted on leave-one-corpus-out answers ({', '.join(raw)} held out in turn; "
        "benchmarks/loco.py --calibrate): the gate is the lowest threshold at which a held-out "
        f"corpus's answered clips are right at least {target:.0%} of the time, mean over corpora"
    )
    out = {"temperature": round(t, 4), "threshold": gate, "calibration": how}
    return out, "\n".join(lines)


def table(results: dict, name: str) -> str:
    lines = [f"### {name}", "", "| held out | clips | UA plain | arousal UA plain | lowest "
             f"recall plain | UA adapted ({ENROLL} clips/speaker) | arousal UA adapted |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    means: dict[str, list[float]] = {}
    for held, r in results.items():
        cells = []
        for way in ("plain", "adapted"):
            got = r.get(way)
            if got is None:
                cells.append(("-", "-", "-"))
                continue
            low = min(got["recall"].items(), key=lambda kv: kv[1])
            cells.append((f"{100 * got['ua']:.1f}%", f"{100 * got['arousal_ua']:.1f}%",
                          f"{low[0]} {100 * low[1]:.1f}"))  # fmt: skip
            means.setdefault(way, []).append(got["ua"])
            means.setdefault(way + "_arousal", []).append(got["arousal_ua"])
        (p_ua, p_ar, p_low), (a_ua, a_ar, _) = cells
        lines.append(f"| {held} | {r['clips']} | {p_ua} | {p_ar} | {p_low} | {a_ua} | {a_ar} |")
    mean = {k: f"**{100 * float(np.mean(v)):.1f}%**" for k, v in means.items()}
    cols = [mean.get(k, "-") for k in ("plain", "plain_arousal", "adapted", "adapted_arousal")]
    lines.append("| **mean** | | {} | {} | | {} | {} |".format(*cols))
    heads = [
        f"{way} {100 * float(np.mean([r[way]['arousal_head_ua'] for r in results.values()])):.1f}%"
        for way in ("plain", "adapted")
        if all("arousal_head_ua" in r.get(way, {}) for r in results.values())
    ]
    if heads:
        lines.append(f"\nthe trained arousal head's binary arousal UA, mean: {', '.join(heads)}")
    if all("recordings" in r for r in results.values()):
        for way in ("plain", "adapted"):
            if not all(way in r["recordings"] for r in results.values()):
                continue
            per = " / ".join(f"{100 * r['recordings'][way]:.1f}" for r in results.values())
            mean = 100 * float(np.mean([r["recordings"][way] for r in results.values()]))
            lines.append(f"recordings of held-out speakers, speech frames right ({way}): "
                         f"{per}, mean {mean:.1f}%")  # fmt: skip
    if all("channel" in r for r in results.values()):
        per = " / ".join(f"{100 * r['channel']['ua']:.1f}" for r in results.values())
        mean = 100 * float(np.mean([r["channel"]["ua"] for r in results.values()]))
        lines.append(f"adapted to each held-out corpus as one channel ({CHANNEL} unlabelled "
                     f"clips): UA {per}, mean {mean:.1f}%")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--name", default="default", help="the lever's name (its runs' folder)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    ap.add_argument("--runs", type=Path, default=Path("runs/loco"))
    ap.add_argument("--seed", type=int, default=0, help="which enrollment clips are drawn")
    ap.add_argument("--held-out", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    ap.add_argument("--calibrate", type=float, metavar="RIGHT", nargs="?", const=0.5,
                    help="also fit one temperature and the 'unsure' gate on the held-out "
                    "answers (answered clips right at least RIGHT of the time, default 0.5): "
                    "writes calibration.json for emovox export --calibration")  # fmt: skip
    ap.add_argument("--recordings", type=int, nargs=2, metavar=("CLIPS", "SPEAKERS"),
                    help="also score recordings of CLIPS clips of each of the first SPEAKERS "
                    "held-out speakers (frames right, plain and adapted)")  # fmt: skip
    ap.add_argument("--reference", default=AnalysisConfig.reference, choices=REFERENCES,
                    help="how the recordings' speaker reference is estimated")  # fmt: skip
    ap.add_argument("--prior", default=AnalysisConfig.prior, choices=PRIORS,
                    help="the prior recordings are read under (group: their own)")  # fmt: skip
    args = ap.parse_args()
    overrides: dict = {}
    for item in args.set:
        _set_value(overrides, item)
    results, raw, started = {}, {}, time.time()
    for held in args.held_out:
        run = train(held, args.runs / args.name / held, overrides)
        results[held] = score(run, args.seed, raw.setdefault(held, {}))
        if args.recordings:
            results[held]["recordings"] = recordings(run, *args.recordings, args.reference,
                                                     args.prior)  # fmt: skip
    (args.runs / args.name / "loco.json").write_text(
        json.dumps({"set": args.set, "results": results}, indent=1)
    )
    print(table(results, f"{args.name}: {' '.join(args.set) or 'the default recipe'} "
                f"({time.time() - started:.0f} s)"))  # fmt: skip
    if args.calibrate is not None and all(raw.values()):
        cal, rc = calibrate(raw, args.calibrate)
        cal["evaluation"] = {  # what a model of this recipe says of corpora it never heard
            "what": "this recipe on corpora it never heard: each of "
            f"{', '.join(results)} held out in turn, trained on the others (UA, 7 classes)",
            "command": " ".join(["python benchmarks/loco.py", *sys.argv[1:]]),
            "ua": {k: round(r["plain"]["ua"], 4) for k, r in results.items()},
            "ua_mean": round(float(np.mean([r["plain"]["ua"] for r in results.values()])), 4),
            "arousal_ua": {k: round(r["plain"]["arousal_ua"], 4) for k, r in results.items()},
        }
        (args.runs / args.name / "calibration.json").write_text(json.dumps(cal, indent=1))
        print(f"\ntemperature {cal['temperature']}, unsure below {cal['threshold']} (answered"
              f" / right of each held-out corpus's clips, calibrated):\n\n{rc}")  # fmt: skip


if __name__ == "__main__":
    main()
