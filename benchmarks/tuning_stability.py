"""How stable librosa's chroma tuning estimate is under rounding alone, on RAVDESS clips.

    python benchmarks/tuning_stability.py --data ../shared/datasets/ravdess --n 200

librosa.estimate_tuning takes the fullest 0.01-bin of a histogram of peak positions; this
prints how often that histogram ties or nearly ties, how many of librosa's magnitudes
(numpy's complex64 abs) differ from a correctly rounded hypot, and what librosa's own tuning
and chroma become when its magnitudes are rounded as on a CPU without FMA (numpy's
``larger * sqrt(r * r + 1)`` with a separate multiply and add), and how close emovox's
``exact_stft`` power spectrum and tuning come to librosa's. One JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import librosa
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.clips import spread_clips  # noqa: E402
from emovox.features.handcrafted import FeatureConfig, FeatureExtractor  # noqa: E402


def histogram_margin(power: np.ndarray, sr: int, n_chroma: int) -> tuple[int, float]:
    """(fullest bin's lead over the runner-up, its tuning) of librosa's tuning histogram,
    rebuilt from librosa.piptrack as librosa.estimate_tuning builds it."""
    pitch, mag = librosa.piptrack(S=power, sr=sr, fmin=150.0, fmax=4000.0, threshold=0.1)
    valid = pitch > 0
    keep = valid & (mag >= np.median(mag[valid]))
    res = np.mod(n_chroma * librosa.hz_to_octs(pitch[keep]), 1.0)
    res[res >= 0.5] -= 1.0
    counts, edges = np.histogram(res, np.linspace(-0.5, 0.5, 101))
    top2 = np.sort(counts)[-2:]
    return int(top2[1] - top2[0]), float(edges[np.argmax(counts)])


def abs_without_fma(z: np.ndarray) -> np.ndarray:
    """numpy's complex64 magnitude formula with the multiply and the add rounded apart."""
    re, im = np.abs(z.real), np.abs(z.imag)
    big, small = np.maximum(re, im), np.minimum(re, im)
    r = np.divide(small, big, out=np.zeros_like(big), where=big > 0)
    return big * np.sqrt(r * r + np.float32(1.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    exact = FeatureExtractor(FeatureConfig(exact_stft=True))
    cfg = exact.cfg
    exact_differs = exact_tuning_equal = 0
    kw = dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length)
    margins, hypot_differs, values, flips = [], 0, 0, 0
    chroma, chroma_nofma = [], []
    for w in spread_clips(args.data, args.n):
        z = librosa.stft(w, **kw)
        mag = np.abs(z)
        hypot = np.sqrt(z.real.astype(np.float64) ** 2 + z.imag.astype(np.float64) ** 2)
        hypot_differs += int((hypot.astype(np.float32) != mag).sum())
        values += mag.size
        power = mag**2
        margin, tuning = histogram_margin(power, cfg.sr, cfg.n_chroma)
        assert tuning == librosa.estimate_tuning(S=power, sr=cfg.sr, bins_per_octave=cfg.n_chroma)
        margins.append(margin)
        with torch.inference_mode():
            ours = exact.power(torch.from_numpy(w)[None], cfg.n_frames(len(w)))
            frames = torch.ones(1, ours.shape[2], dtype=torch.bool)
            exact_tuning_equal += float(exact.estimate_tuning(ours, frames)) == tuning
        exact_differs += int((ours[0].numpy() != power).sum())
        other = librosa.estimate_tuning(
            S=abs_without_fma(z) ** 2, sr=cfg.sr, bins_per_octave=cfg.n_chroma
        )
        flips += other != tuning
        for out, t in ((chroma, tuning), (chroma_nofma, other)):
            out.append(librosa.feature.chroma_stft(S=power, sr=cfg.sr, tuning=t).ravel())
    margins = np.array(margins)
    a, b = np.concatenate(chroma), np.concatenate(chroma_nofma)
    print(
        json.dumps(
            {
                "clips": len(margins),
                "histogram_ties": int((margins == 0).sum()),
                "histogram_margin_le_2": int((margins <= 2).sum()),
                "numpy_abs_differs_from_hypot": round(hypot_differs / values, 4),
                "tuning_changes_without_fma": int(flips),
                "chroma_corr_without_fma": round(float(np.corrcoef(a, b)[0, 1]), 6),
                "exact_stft_power_values_differing": exact_differs,
                "power_values": values,
                "exact_stft_tuning_equal": exact_tuning_equal,
            }
        )
    )


if __name__ == "__main__":
    main()
