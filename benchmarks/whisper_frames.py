"""Whisper encoder: real frames only vs Whisper's own 30-s padded forward, same weights.

    python benchmarks/whisper_frames.py --encoder whisper-base --n 20

Prints one JSON line: ms per clip both ways, the speed-up, and the cosine between the two
paths' last-layer states on the real frames (they differ by design: attention over padding).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.clips import spread_clips  # noqa: E402
from emovox.models.encoders import load_whisper, whisper_log_mel  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--encoder", default="whisper-base")
    ap.add_argument("--n", type=int, default=20)
    args = ap.parse_args()
    waves = spread_clips(args.data, args.n)
    t = time.perf_counter()
    enc = load_whisper(args.encoder)
    load_s = time.perf_counter() - t
    from transformers import WhisperFeatureExtractor

    whisper_fe = WhisperFeatureExtractor(feature_size=enc.encoder.cfg.n_mels)
    with torch.inference_mode():
        real, padded, cos = 0.0, 0.0, []
        for w in waves:
            mel, mask = whisper_log_mel([w])
            t = time.perf_counter()
            states, m = enc(mel, mask)
            real += time.perf_counter() - t
            full = torch.from_numpy(
                whisper_fe(w, sampling_rate=16000, return_tensors="np").input_features.astype(
                    np.float32
                )
            )  # Whisper's 30-s input
            t = time.perf_counter()
            pstates, _ = enc(full, torch.ones(1, 3000, dtype=torch.bool))
            padded += time.perf_counter() - t
            a, b = states[-1][0], pstates[-1][0, : states[-1].shape[1]]
            cos.append(float(torch.nn.functional.cosine_similarity(a, b, dim=-1).mean()))
    n = len(waves)
    print(
        json.dumps(
            {
                "encoder": args.encoder,
                "clips": n,
                "load_s": round(load_s, 2),
                "real_frames_ms_per_clip": round(1000 * real / n, 1),
                "padded_30s_ms_per_clip": round(1000 * padded / n, 1),
                "speedup": round(padded / real, 2),
                "last_layer_cosine_real_vs_padded": round(float(np.mean(cos)), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
