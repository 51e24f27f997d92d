"""Who speaks when, when the turns are loud: two-speaker conversations whose turns are
normal-intensity clips, strong-intensity clips (RAVDESS's shouted anger, fear, happiness and
surprise), or both, analysed by the bundled model with ``--speakers 2``.

Each conversation joins a man's and a woman's clips (RAVDESS actors paired odd with even), in
turns of 1 to 4 clips, with benchmarks/timeline.py's pauses and noise bursts. Prints, per
kind of turn: frames attributed to the right speaker (voices matched to speakers one to one,
over the speech both found), diarisation error (demo.speaker_error) and turns given to the
wrong voice (a turn's majority voice not its speaker's). The bundled model has heard every
RAVDESS actor, but the split reads the earliest Whisper layer's statistics, which no emotion
training touched.

    python benchmarks/loud_turns.py --pairs 12
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import emovox  # noqa: E402
from emovox.data import demo  # noqa: E402
from emovox.data.corpora import read_corpus  # noqa: E402
from emovox.infer.analyzer import AnalysisConfig  # noqa: E402
from emovox.infer.timeline import TimelineConfig  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ravdess"
LOUD = ("angry", "fear", "happy", "surprise")


def turns(rows: dict, rng: np.random.Generator) -> list:
    """The two speakers' clips interleaved in turns of 1 to 4."""
    left = {s: list(v) for s, v in rows.items()}
    out, who = [], list(left)
    k = int(rng.integers(2))
    while any(left.values()):
        s = who[k % 2] if left[who[k % 2]] else who[(k + 1) % 2]
        take = int(rng.integers(1, 5))
        out += left[s][:take]
        left[s] = left[s][take:]
        k += 1
    return out


def wrong_turns(result, rec: demo.Recording, step: float = 0.1) -> tuple[int, int]:
    """(turns whose majority voice is not their speaker's, turns), voices matched to
    speakers by the majority over all turns."""
    duration = len(rec.wave) / emovox.SAMPLE_RATE
    times = np.arange(0.0, duration, step) + step / 2
    pred = np.full(len(times), "", dtype=object)
    for s in result.segments or []:
        pred[(times >= s.start) & (times < s.end)] = s.speaker or "S1"
    votes: dict = {}
    heard = []
    for (a, b, _), spk in zip(rec.truth, rec.speakers, strict=True):
        got = [v for v in pred[(times >= a) & (times < b)] if v]
        top = max(set(got), key=got.count) if got else None
        heard.append((spk, top))
        if top:
            votes.setdefault(spk, []).append(top)
    name = {s: max(set(v), key=v.count) for s, v in votes.items()}
    wrong = sum(top is None or name.get(spk) != top for spk, top in heard)
    return wrong, len(heard)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pairs", type=int, default=12, help="conversations per kind of turn")
    ap.add_argument("--clips", type=int, default=12, help="clips per speaker")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--vote",
        type=int,
        default=AnalysisConfig.speaker_vote,
        help="windows either side a window's voice is voted with",
    )
    ap.add_argument("--kinds", nargs="+", default=["normal", "strong", "mixed"])
    ap.add_argument(
        "--share",
        type=int,
        default=0,
        help="the man's clips of 22 (0: --clips each): an unbalanced conversation",
    )
    ap.add_argument(
        "--context",
        type=float,
        default=TimelineConfig.context,
        help="seconds of audio either side of a window that the model hears",
    )
    args = ap.parse_args()
    rows = read_corpus(DATA).rows
    cfg = AnalysisConfig(
        speakers=2, speaker_vote=args.vote, timeline=TimelineConfig(context=args.context)
    )
    model = emovox.load_model(config=cfg, engine="torch")
    kinds = {
        "normal": lambda r: r.intensity == "normal" and r.emotion not in ("calm",),
        "strong": lambda r: r.intensity == "strong" and r.emotion in LOUD,
        "mixed": lambda r: r.emotion != "calm",
    }
    rng = np.random.default_rng(args.seed)
    for kind in args.kinds:
        keep = kinds[kind]
        stats = {"right": [], "der": [], "wrong_turns": 0, "turns": 0}
        for k in range(args.pairs):
            man, woman = f"{2 * (k % 12) + 1:02d}", f"{2 * (k % 12) + 2:02d}"
            mine = {}
            counts = (args.share, 22 - args.share) if args.share else (args.clips, args.clips)
            for actor, count in zip((man, woman), counts, strict=True):
                pool = [r for r in rows if r.speaker.endswith(actor) and keep(r)]
                mine[actor] = [pool[i] for i in rng.permutation(len(pool))[:count]]
            rec = demo.build(turns(mine, rng), seed=k, shuffle=False)
            result = model.predict(rec.wave, sr=emovox.SAMPLE_RATE)
            err = demo.speaker_error(result, rec, len(rec.wave) / emovox.SAMPLE_RATE)
            stats["right"].append(1 - err["confused"] / max(1 - err["missed"], 1e-9))
            stats["der"].append(err["der"])
            wrong, n = wrong_turns(result, rec)
            stats["wrong_turns"] += wrong
            stats["turns"] += n
        print(json.dumps({
            "turns": kind, "conversations": args.pairs, "vote": args.vote,
            "frames_attributed_right": round(100 * float(np.mean(stats["right"])), 1),
            "der": round(100 * float(np.mean(stats["der"])), 1),
            "turns_to_the_wrong_voice": f"{stats['wrong_turns']} of {stats['turns']}",
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
