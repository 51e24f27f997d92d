"""The feature extractor of a git revision against the working tree's, alternating in one
process, so that the VM's drift hits both alike (a speed change of a few percent is below
the run-to-run noise of `benchmarks/features.py`).

    python benchmarks/features_ab.py --against HEAD~1 --data ../shared/datasets/ravdess

Prints one JSON object: median and minimum ms per clip of both, their ratio (new / old) and
whether the two give identical features.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.clips import spread_clips  # noqa: E402
from emovox.features import handcrafted as new  # noqa: E402


def _module_at(rev: str):
    """emovox/features.py as it was at ``rev``, imported under another name."""
    src = subprocess.run(
        ["git", "show", f"{rev}:src/emovox/features.py"], check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "features_at_rev.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("features_at_rev", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--against", required=True, help="git revision of the old extractor")
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=12)
    args = ap.parse_args()
    waves = spread_clips(args.data, args.n)
    old = _module_at(args.against)
    sides = {"old": (old, old.FeatureExtractor()), "new": (new, new.FeatureExtractor())}
    outs = {k: m.extract(waves, ex, args.batch_size) for k, (m, ex) in sides.items()}
    ms: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(args.rounds):
        for k, (m, ex) in sides.items():
            t = time.perf_counter()
            m.extract(waves, ex, args.batch_size)
            ms[k].append(1000 * (time.perf_counter() - t) / len(waves))
    med = {k: statistics.median(v) for k, v in ms.items()}
    print(
        json.dumps(
            {
                "against": args.against,
                "clips": len(waves),
                "batch_size": args.batch_size,
                "rounds": args.rounds,
                **{f"{k}_ms_per_clip_median": round(v, 4) for k, v in med.items()},
                **{f"{k}_ms_per_clip_min": round(min(v), 4) for k, v in ms.items()},
                "ratio_new_over_old": round(med["new"] / med["old"], 3),
                "identical": all(
                    np.array_equal(a, b) for a, b in zip(outs["old"], outs["new"], strict=True)
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
