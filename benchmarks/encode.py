"""Time to fill the encoder-statistics cache for a whole corpus (what the first encoder run pays).

    python benchmarks/encode.py --encoder whisper-base
    python benchmarks/encode.py --encoder whisper-base --trim-db 40   # silence cut first

Uses a fresh temporary cache, so nothing is read back; prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from emovox.data import corpora
from emovox.data.clips import encoder_pooled, load_clips
from emovox.infer.torch_engine import load_encoder
from emovox.store.cache import ArrayCache


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--encoder", default="whisper-base")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--trim-db", type=float, default=0.0, help="cut silence first (trim_db)")
    args = ap.parse_args()
    rows = corpora.read_corpus(args.data).rows
    t = time.perf_counter()
    clips = load_clips(rows).trimmed(args.trim_db)
    decode_s = time.perf_counter() - t
    enc = load_encoder(args.encoder).to(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        encoder_pooled(clips.waves, clips.keys, enc, args.encoder, ArrayCache(tmp))
        encode_s = time.perf_counter() - t
    print(
        json.dumps(
            {
                "encoder": args.encoder,
                "device": args.device,
                "trim_db": args.trim_db,
                "clips": len(clips.waves),
                "audio_s": round(sum(len(w) for w in clips.waves) / 16000, 1),
                "decode_s": round(decode_s, 1),
                "encode_s": round(encode_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
