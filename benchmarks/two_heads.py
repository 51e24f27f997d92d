"""Two kinds of head in one model, leave-one-corpus-out: the plain heads (any clip) and a
speaker-normalised head (speech adapted to its voice), as ``emovox export --recording-head``
ships them. Per held-out corpus, from runs that ``benchmarks/loco.py`` trained:

- clips adapted per test speaker from K of their unlabelled clips (K = 3 ... 40): UA of the
  plain heads shifted to the speaker, of the normalised head alone, and of both voting as the
  product votes (each kind half: ``emovox.models.ensemble.head_weights``), which sets how
  much of a voice the normalised head needs;
- recordings of held-out speakers (``--recordings CLIPS SPEAKERS``, as loco.py's): speech
  frames right as ``emovox predict`` analyses them, plain heads alone and both kinds.

    python benchmarks/loco.py --name sn10-0.4.1 --set speaker_norm=10  # the normalised head
    python benchmarks/two_heads.py default sn10-0.4.1 --recordings 20 12
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

from cross_corpus import adapted  # noqa: E402
from loco import CORPORA, frames_right, statistics  # noqa: E402
from timeline import actor_recordings  # noqa: E402

from emovox.evaluation.metrics import metrics  # noqa: E402
from emovox.infer import torch_engine  # noqa: E402
from emovox.infer.analyzer import AnalysisConfig, Analyzer  # noqa: E402
from emovox.infer.engine import Engine  # noqa: E402
from emovox.infer.torch_engine import TorchBackend  # noqa: E402
from emovox.store.runs import RunFolder  # noqa: E402

ENROLLS = (3, 5, 10, 20, 40)
WAYS = ("plain heads", "normalised head", "both")


def clip_table(plain: Path, norm: Path, seed: int) -> dict:
    """UA per enrollment size and way (the three of ``WAYS``) on the held-out corpus."""
    p, p_in, rows = statistics(plain)
    q, q_in, q_rows = statistics(norm)
    assert [r.path for r in rows] == [r.path for r in q_rows], "the runs hold out other clips"
    both = Engine(TorchBackend(p.backend.members + q.backend.members, p.temperature))
    y = np.array([p.labels.index(r.emotion) for r in rows])
    speakers = [r.speaker for r in rows]
    out: dict = {}
    for k in ENROLLS:
        ways = {
            "plain heads": p.classify(adapted(p, p_in, speakers, seed, k))[0],
            "normalised head": q.classify(adapted(q, q_in, speakers, seed, k), True)[0],
            "both": both.classify(adapted(both, p_in + q_in, speakers, seed, k), True)[0],
        }
        out[k] = {w: metrics(y, x.argmax(1), p.labels)["uar"] for w, x in ways.items()}
    return out


def recordings(plain: Path, norm: Path, clips: int, speakers: int) -> dict:
    """Speech frames right on recordings of held-out speakers, adapted to each recording: the
    plain heads alone, and both kinds."""
    recs = actor_recordings(RunFolder(plain), (0.6, 2.0), clips, speakers)
    p, q = torch_engine.load(plain), torch_engine.load(norm)
    both = Engine(TorchBackend(p.backend.members + q.backend.members, p.temperature))
    return {way: frames_right(Analyzer(pred, AnalysisConfig()), recs)
            for way, pred in (("plain heads", p), ("both", both))}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("plain", help="loco.py --name of the plain recipe")
    ap.add_argument("norm", help="loco.py --name of the speaker-normalised one")
    ap.add_argument("--runs", type=Path, default=Path("runs/loco"))
    ap.add_argument("--seed", type=int, default=0, help="which enrollment clips are drawn")
    ap.add_argument("--recordings", type=int, nargs=2, metavar=("CLIPS", "SPEAKERS"))
    args = ap.parse_args()
    started, results = time.time(), {}
    for held in CORPORA:
        plain, norm = args.runs / args.plain / held, args.runs / args.norm / held
        results[held] = {"clips": clip_table(plain, norm, args.seed)}
        if args.recordings:
            results[held]["recordings"] = recordings(plain, norm, *args.recordings)
    (args.runs / args.norm / "two_heads.json").write_text(json.dumps(results, indent=1))
    print(f"### {args.plain} + {args.norm} ({time.time() - started:.0f} s)\n")
    print("| unlabelled clips per speaker | " + " | ".join(WAYS) + " |")
    print("|---|" + "---|" * len(WAYS))
    for k in ENROLLS:
        cells = []
        for w in WAYS:
            per = [100 * r["clips"][k][w] for r in results.values()]
            cells.append(f"{np.mean(per):.1f}% ({' / '.join(f'{x:.1f}' for x in per)})")
        print(f"| {k} | " + " | ".join(cells) + " |")
    if args.recordings:
        for w in ("plain heads", "both"):
            per = [100 * r["recordings"][w] for r in results.values()]
            print(f"\nrecordings, speech frames right ({w}): "
                  f"{' / '.join(f'{x:.1f}' for x in per)}, mean {np.mean(per):.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
