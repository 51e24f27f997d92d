"""Timeline settings measured on recordings of actors the model never heard.

For each fold of a finished ``emovox cv`` run (an ensemble per fold), each test actor's clips
become one recording (benchmarks/recordings.py: shuffled, speech only, pauses with quiet noise
and noise bursts), analysed with that fold's model under each setting; prints one JSON line per
setting with frame accuracy, speech/non-speech accuracy and boundary error (means over actors).

    emovox cv --labels 7 --ensemble 3 --out runs/enc7
    python benchmarks/timeline.py runs/enc7 --context 0 0.25 0.5 1 --pause 0.6 2
    python benchmarks/timeline.py runs/enc7 --pause 0.05 0.3 --window 2 4 8 --smooth 0 1 2
    emovox cv --labels 8 --ensemble 3 --out runs/enc8            # adaptation: plain heads
    emovox cv --labels 8 --ensemble 3 --set speaker_norm=10 --out runs/enc8sn
    python benchmarks/timeline.py runs/enc8 --adapt 0 1 && python benchmarks/timeline.py runs/enc8sn

A leave-one-corpus-out folder (``benchmarks/loco.py``: one run per held-out corpus) works the
same way, each held-out corpus's speakers as the recordings, one row per corpus:

    python benchmarks/timeline.py runs/loco/default --adapt 0 1 --per-actor 20 --speakers 12 \
        --per-fold
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emovox.data import demo  # noqa: E402
from emovox.data.corpora import Manifest  # noqa: E402
from emovox.infer import torch_engine  # noqa: E402
from emovox.infer.analyzer import AnalysisConfig, Analyzer  # noqa: E402
from emovox.infer.timeline import TimelineConfig  # noqa: E402
from emovox.store.runs import RunFolder  # noqa: E402


def actor_recordings(
    fold: RunFolder, pause: tuple[float, float], per_actor: int, speakers: int = 0
) -> list:
    """One recording per test actor of the fold (its ensemble's member 0 split; the first
    ``speakers`` of them in order of their ids, 0: all)."""
    member = fold.member(0) if fold.is_ensemble else fold
    test = set(member.read_split()["test"])
    rows = [r for r in Manifest.read_tsv(member.manifest).rows if r.path in test]
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r.speaker, []).append(r)
    out = []
    for k, v in sorted(by.items())[: speakers or None]:
        # RAVDESS's actor number, as the figures in docs/analysis.md were drawn; else a hash
        seed = int(k[-2:]) if k[-2:].isdigit() else zlib.crc32(k.encode())
        # a random draw of the speaker's clips: a manifest lists them by emotion, and the
        # first ``per_actor`` would make a recording of one or two emotions
        pick = np.random.default_rng(seed).permutation(len(v))[:per_actor]
        out.append(demo.build([v[i] for i in sorted(pick)], seed=seed, pause=pause))
    return out


def folds(root: Path) -> list[Path]:
    """A cv run's fold folders, or a leave-one-corpus-out folder's runs."""
    found = sorted(root.glob("fold*")) or sorted(
        p for p in root.iterdir() if (p / "config.json").exists()
    )
    if not found:
        raise SystemExit(f"{root}: no fold*/ folders and no runs in it")
    return found


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("cv_dir")
    ap.add_argument("--pause", type=float, nargs=2, default=(0.6, 2.0))
    ap.add_argument("--per-actor", type=int, default=60)
    ap.add_argument("--context", type=float, nargs="+", default=[TimelineConfig.context])
    ap.add_argument("--window", type=float, nargs="+", default=[TimelineConfig.window])
    ap.add_argument("--smooth", type=float, nargs="+", default=[TimelineConfig.smooth])
    ap.add_argument("--speakers", type=int, default=0, help="recordings per fold (0: all)")
    ap.add_argument("--per-fold", action="store_true", help="a row per fold (held-out corpus)")
    ap.add_argument("--threshold", type=float, default=AnalysisConfig.threshold)
    ap.add_argument("--unfamiliar", type=float, default=AnalysisConfig.unfamiliar)
    ap.add_argument(
        "--adapt", type=int, nargs="+", default=[int(AnalysisConfig.adapt)], help="0: off, 1: on"
    )
    args = ap.parse_args()
    settings = list(itertools.product(args.context, args.window, args.smooth, args.adapt))
    scores: dict[tuple, list[dict]] = {}
    seconds: dict[tuple, float] = {}
    audio_seconds = 0.0
    for fold_dir in folds(Path(args.cv_dir)):
        predictor = torch_engine.load(fold_dir)
        recs = actor_recordings(
            RunFolder(fold_dir), tuple(args.pause), args.per_actor, args.speakers
        )
        audio_seconds += sum(len(r.wave) for r in recs) / 16000
        for setting in settings:
            key = (*setting, fold_dir.name if args.per_fold else "all")
            analyzer = Analyzer(predictor, _config(setting, args.threshold, args.unfamiliar))
            for rec in recs:
                t0 = time.perf_counter()
                result = analyzer.predict(rec.wave, sr=16000)
                seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t0
                scores.setdefault(key, []).append(
                    demo.score(result, rec.truth, len(rec.wave) / 16000)
                )
    for key, ss in scores.items():
        context, window, smooth, adapt, fold = key
        row = {
            "model": args.cv_dir,
            "fold": fold,
            "context": context,
            "window": window,
            "hop": window / 2,
            "smooth": smooth,
            "adapt": adapt,
            "pause": list(args.pause),
            "actors": len(ss),
            "audio_s": round(audio_seconds, 1),
            "analysis_s": round(seconds[key], 1),
        }
        for key in ("frame_accuracy", "speech_accuracy", "boundary_error"):
            row[key] = round(float(np.mean([s[key] for s in ss])), 4)
        print(json.dumps(row), flush=True)


def _config(setting: tuple, threshold: float, unfamiliar: float) -> AnalysisConfig:
    context, window, smooth, adapt = setting
    tl = replace(TimelineConfig(), context=context, window=window, hop=window / 2, smooth=smooth)
    return AnalysisConfig(
        threshold=threshold, unfamiliar=unfamiliar, timeline=tl, adapt=bool(adapt)
    )


if __name__ == "__main__":
    main()
