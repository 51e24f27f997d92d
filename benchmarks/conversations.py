"""Conversations of two or three held-out speakers: who speaks when, and whether splitting a
recording by voice keeps its emotion accuracy near that of one-speaker recordings.

For each held-out corpus of a finished ``benchmarks/loco.py`` folder, conversations are joined
from ``--clips`` clips of each of 2 or 3 of its speakers (alternately), taken in turns of 1 to
4 clips, with the pauses and noise bursts of benchmarks/timeline.py. Each is analysed with one
voice (``speakers=1``), with the true count fixed (``--speakers N``) and with the count
estimated (``speakers=0``); the same speakers' clips are also analysed as one-speaker
recordings. Prints frames right per setting and diarisation error (missed + confused + false
alarm, over speech; voices matched to speakers one to one).

    python benchmarks/conversations.py runs/loco/default --per-corpus 6 --clips 12
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emovox.data import demo  # noqa: E402
from emovox.data.corpora import Manifest  # noqa: E402
from emovox.infer import torch_engine  # noqa: E402
from emovox.infer.analyzer import AnalysisConfig, Analyzer  # noqa: E402
from emovox.store.runs import RunFolder  # noqa: E402


def conversations(run: Path, n: int, clips: int, seed: int) -> list[tuple[int, list, list]]:
    """(speakers, turn-ordered rows, each speaker's rows) for ``n`` conversations."""
    folder = RunFolder(run)
    member = folder.member(0) if folder.is_ensemble else folder
    test = set(member.read_split()["test"])
    by: dict[str, list] = {}
    for r in Manifest.read_tsv(member.manifest).rows:
        if r.path in test:
            by.setdefault(r.speaker, []).append(r)
    pool = sorted(s for s, v in by.items() if len(v) >= clips)
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        who = list(rng.choice(pool, 2 + k % 2, replace=False))
        left = {s: [by[s][i] for i in rng.permutation(len(by[s]))[:clips]] for s in who}
        mine = {s: list(v) for s, v in left.items()}
        rows, last = [], None
        while any(left.values()):
            s = rng.choice([w for w in who if left[w] and w != last] or
                           [w for w in who if left[w]])  # fmt: skip
            take = int(rng.integers(1, 5))
            rows += left[s][:take]
            left[s], last = left[s][take:], s
        out.append((len(who), rows, list(mine.values())))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("loco_dir", type=Path)
    ap.add_argument("--per-corpus", type=int, default=6)
    ap.add_argument("--clips", type=int, default=12, help="clips per speaker")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vote", type=int, nargs="+", default=[AnalysisConfig.speaker_vote])
    args = ap.parse_args()
    report: dict = {}
    for run in sorted(p for p in args.loco_dir.iterdir() if (p / "config.json").exists()):
        predictor = torch_engine.load(run)
        scores: dict[str, list] = {}
        for k, (n, rows, each) in enumerate(conversations(run, args.per_corpus, args.clips,
                                                          args.seed)):  # fmt: skip
            rec = demo.build(rows, seed=k, shuffle=False)
            seconds = len(rec.wave) / 16000
            settings = [("one voice", 1, 0)] + [
                (f"{name} (vote {v})", count, v)
                for v in args.vote
                for name, count in (("count fixed", n), ("count estimated", 0))
            ]
            for name, count, vote in settings:
                cfg = AnalysisConfig(speakers=count, speaker_vote=vote)
                result = Analyzer(predictor, cfg).predict(rec.wave, sr=16000)
                got = demo.score(result, rec.truth, seconds)["frame_accuracy"]
                err = demo.speaker_error(result, rec, seconds)
                scores.setdefault(name, []).append((got, err["der"], err["voices"], n))
            for spk_rows in each:  # the same clips, one speaker per recording
                alone = demo.build(spk_rows, seed=k)
                for name, count in (("one voice", 1), ("count estimated", 0)):
                    cfg = AnalysisConfig(speakers=count)
                    result = Analyzer(predictor, cfg).predict(alone.wave, sr=16000)
                    got = demo.score(result, alone.truth, len(alone.wave) / 16000)
                    voices = len({s.speaker for s in result.segments or []})
                    scores.setdefault(f"one-speaker recordings, {name}", []).append(
                        (got["frame_accuracy"], None, voices, 1)
                    )
        row = {}
        for name, ss in scores.items():
            frames = round(100 * float(np.mean([s[0] for s in ss])), 1)
            der = [s[1] for s in ss if s[1] is not None]
            right_count = float(np.mean([s[2] == s[3] for s in ss]))
            row[name] = {"frames_right": frames,
                         "der": round(100 * float(np.mean(der)), 1) if der else None,
                         "count_right": round(right_count, 2)}  # fmt: skip
            print(f"{run.name}: {name}: frames right {frames}%"
                  + (f", DER {row[name]['der']}%" if der else "")
                  + f", voices counted right {right_count:.0%}", flush=True)  # fmt: skip
        report[run.name] = row
    (args.loco_dir / "conversations.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
