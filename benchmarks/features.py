"""librosa vs emovox feature extraction on the same RAVDESS clips, in one process.

    python benchmarks/features.py --data ../shared/datasets/ravdess --n 200

Prints per-clip times (librosa one clip at a time, as users call it, one pass after a warm-up;
emovox batched, the median of `--repeats` passes, and with a batch of 1), the speed-up,
per-group parity (correlation over all frames, max |difference|), the same for
``exact_stft`` (the spectrum rounded as librosa rounds it, so that its rounding-sensitive
tuning estimate is reproduced), chroma parity with the tuning fixed, and librosa's chroma
against itself on float64 input; as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.clips import spread_clips  # noqa: E402
from benchmarks.librosa_reference import librosa_features  # noqa: E402
from emovox.features.handcrafted import FeatureConfig, FeatureExtractor, extract  # noqa: E402


def _time(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls, and the last call's result: the typical pass, as
    librosa's single long pass is (a minimum would pick emovox's luckiest short pass against
    librosa's average one)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def _parity(ref: list[dict], ours: list[np.ndarray], cfg: FeatureConfig) -> tuple[dict, dict]:
    """Per group: correlation over all frames of all clips, and the largest |difference|."""
    parity, maxdiff = {}, {}
    for g, sl in cfg.slices().items():
        a = np.concatenate([r[g] for r in ref]).ravel().astype(np.float64)
        b = np.concatenate([o[:, sl] for o in ours]).ravel().astype(np.float64)
        parity[g] = round(float(np.corrcoef(a, b)[0, 1]), 6)
        maxdiff[g] = float(np.abs(a - b).max())
    return parity, maxdiff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5, help="emovox passes (median)")
    ap.add_argument("--device", default="cpu", help="where emovox runs (librosa: CPU)")
    args = ap.parse_args()

    waves = spread_clips(args.data, args.n)
    cfg = FeatureConfig()
    ex = FeatureExtractor(cfg).to(args.device)
    threads = torch.get_num_threads()

    for w in waves[:3]:  # warm-up: librosa's numba kernels compile on first use
        librosa_features(w, cfg)
    ref: list[dict] = []
    t = time.perf_counter()
    for w in waves:
        ref.append(librosa_features(w, cfg))
    librosa_s = time.perf_counter() - t

    extract(waves[:8], ex, args.batch_size)  # warm-up
    emovox_s, ours = _time(lambda: extract(waves, ex, args.batch_size), args.repeats)
    single_s = _time(lambda: extract(waves[:50], ex, 1), 1)[0] / min(50, len(waves)) * len(waves)

    parity, maxdiff = _parity(ref, ours, cfg)

    # the spectrum rounded as librosa rounds it (exact_stft): its tuning estimate, at a cost
    exact_cfg = FeatureConfig(exact_stft=True)
    ex_exact = FeatureExtractor(exact_cfg).to(args.device)
    exact_s, exact = _time(lambda: extract(waves, ex_exact, args.batch_size), args.repeats)
    exact_parity, exact_maxdiff = _parity(ref, exact, exact_cfg)

    # chroma with the tuning fixed on both sides isolates the filter bank from the estimator
    fixed = FeatureConfig(chroma_tuning=0.0, groups=("chroma",))
    ours_fixed = extract(waves, FeatureExtractor(fixed).to(args.device), args.batch_size)
    a = np.concatenate([librosa_features(w, fixed)["chroma"] for w in waves]).ravel()
    b = np.concatenate(ours_fixed).ravel()
    chroma_fixed = round(float(np.corrcoef(a, b)[0, 1]), 6)
    # librosa against itself on the same clips in float64: its per-clip tuning estimate (the
    # argmax of a 100-bin histogram) moves with rounding alone, which bounds chroma parity
    est = FeatureConfig(groups=("chroma",))
    c32 = np.concatenate([r["chroma"] for r in ref]).ravel()
    c64 = np.concatenate([librosa_features(w.astype(np.float64), est)["chroma"] for w in waves])
    chroma_self = round(float(np.corrcoef(c32, c64.ravel())[0, 1]), 6)

    n = len(waves)
    result = {
        "clips": n,
        "mean_clip_s": round(float(np.mean([len(w) for w in waves])) / cfg.sr, 3),
        "torch_threads": threads,
        "device": args.device,
        "batch_size": args.batch_size,
        "librosa_ms_per_clip": round(1000 * librosa_s / n, 3),
        "emovox_ms_per_clip": round(1000 * emovox_s / n, 3),
        "emovox_batch1_ms_per_clip": round(1000 * single_s / n, 3),
        "speedup": round(librosa_s / emovox_s, 2),
        "parity": parity,
        "max_abs_diff": {g: float(f"{v:.3g}") for g, v in maxdiff.items()},
        "exact_stft": {
            "emovox_ms_per_clip": round(1000 * exact_s / n, 3),
            "speedup": round(librosa_s / exact_s, 2),
            "parity": exact_parity,
            "max_abs_diff": {g: float(f"{v:.3g}") for g, v in exact_maxdiff.items()},
        },
        "chroma_parity_fixed_tuning": chroma_fixed,
        "chroma_librosa_float32_vs_float64": chroma_self,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
