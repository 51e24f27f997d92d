"""Where emovox finds speech: Silero alone against Silero with the voicing rule
(:mod:`emovox.audio.voicing`), on every clip of the corpora in ../shared and on non-speech.

1. Speech found: the share of clips with at least one speech region, per corpus, per emotion
   and per intensity (RAVDESS), and every clip still without one.
2. Non-speech: noise of three colours at four levels, tones and mains hum (benchmarks/abstain.py's
   set), each alone and set in a second of silence either side, and synthetic music (one voice
   and three, notes of a scale with attacks and decays, some with vibrato): speech regions
   found, and whether the bundled model, as ``emovox predict`` runs it, gives any an emotion.
   Babble (six RAVDESS clips at once) is listed apart: it is speech, to a detector and to us.
3. False alarms on long noise: an hour of the non-speech pieces joined, 10 s each at levels
   from -20 to +10 dB: speech regions found per hour.
4. Recordings: speech/non-speech frames right on 12 actors' RAVDESS clips joined with pauses
   and noise bursts (benchmarks/timeline.py's recordings), each detector.

    python benchmarks/detector.py                    # all of it: about 4 min
    python benchmarks/detector.py --parts recordings --actors 6
    python benchmarks/detector.py --corpora ravdess --hours 0.25
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.abstain import non_speech  # noqa: E402
from emovox import audio  # noqa: E402
from emovox.audio import degrade, vad  # noqa: E402
from emovox.data.corpora import read_corpus  # noqa: E402

SR = audio.SAMPLE_RATE
DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SILERO = vad.VadConfig(voiced=None)
VOICED = vad.VadConfig()
PARTS = ["clips", "non-speech", "recordings"]


def music(seconds: float, seed: int, voices: int) -> np.ndarray:
    """Notes of a major scale, 0.25-1 s each, harmonic tones with an attack and a decay, half
    with a 5.5 Hz vibrato; ``voices`` lines an octave apart at once."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    for v in range(voices):
        t0 = 0
        while t0 < n:
            length = min(int(rng.choice([0.25, 0.5, 0.5, 1.0]) * SR), n - t0)
            hz = 220 * 2 ** ((rng.choice(scale) + 12 * v) / 12)
            t = np.arange(length) / SR
            vibrato = 1 + 0.006 * np.sin(2 * np.pi * 5.5 * t) * (rng.random() < 0.5)
            phase = 2 * np.pi * np.cumsum(hz * vibrato) / SR
            tone = sum(np.sin(k * phase) * 0.6**k for k in range(1, 8))
            out[t0 : t0 + length] += tone * np.minimum(t / 0.01, 1) * np.exp(-t * rng.uniform(1, 4))
            t0 += length
    return (0.2 * out / np.abs(out).max()).astype(np.float32)


def _found(paths: list[str]) -> list[tuple[str, bool, bool]]:
    """(path, speech found by Silero alone, found with the voicing rule) of each clip."""
    det = vad.SpeechDetector()
    out = []
    for p in paths:
        alone, voiced = regions_of(det, audio.load(p))
        out.append((p, bool(alone), bool(voiced)))
    return out


def speech_found(corpora: list[str], workers: int) -> dict:
    rows = [r for c in corpora for r in read_corpus(DATA / c).rows]
    meta = {str(r.path): r for r in rows}
    paths = list(meta)
    with Pool(workers) as pool:
        found = [x for part in pool.map(_found, [paths[k::16] for k in range(16)]) for x in part]
    clips, alone, voiced = Counter(), Counter(), Counter()
    missed = []
    for p, a, v in found:
        r = meta[p]
        keys = [r.corpus, (r.corpus, r.emotion)]
        keys += [(r.corpus, r.emotion, r.intensity)] if r.intensity else []
        for k in keys:
            clips[k] += 1
            alone[k] += a
            voiced[k] += v
        if not v:
            missed.append({"path": p, "corpus": r.corpus, "emotion": r.emotion})
    table = [
        {"group": k if isinstance(k, str) else "/".join(k), "clips": clips[k],
         "silero": round(alone[k] / clips[k], 4), "with_voicing": round(voiced[k] / clips[k], 4)}
        for k in sorted(clips, key=lambda k: (k,) if isinstance(k, str) else k)
    ]  # fmt: skip
    return {"found": table, "still_missed": missed}


def non_speech_set() -> dict[str, np.ndarray]:
    out = {}
    quiet = np.zeros(SR, dtype=np.float32)
    for name, wave in non_speech(10.0).items():
        out[name] = wave
        out[f"{name}, in silence"] = np.concatenate([quiet, wave, quiet])
    for seed in range(3):
        out[f"music {seed}, one voice"] = music(20.0, seed, 1)
        out[f"music {seed}, three voices"] = music(20.0, seed, 3)
    return out


def babble_set() -> dict[str, np.ndarray]:
    rows = read_corpus(DATA / "ravdess").rows[::97]
    pool = [audio.load(r.path) for r in rows]
    rng = np.random.default_rng(0)
    return {f"babble {k}": 0.1 * degrade.babble(pool, 10 * SR, 6, rng) for k in range(3)}


def regions_of(det: vad.SpeechDetector, wave: np.ndarray) -> tuple[int, int]:
    probs, cues = det.detect([wave])
    alone = len(vad.regions(probs, len(wave), SILERO))
    probs[vad.voicing.voiced_speech(cues, VOICED.voiced)] = 1.0
    return alone, len(vad.regions(probs, len(wave), VOICED))


def non_speech_answers() -> list[dict]:
    import emovox

    model = emovox.load_model()
    det = vad.SpeechDetector()
    rows = []
    for kind, inputs in (("non-speech", non_speech_set()), ("babble", babble_set())):
        for name, wave in inputs.items():
            alone, voiced = regions_of(det, wave)
            r = model.predict(wave, sr=SR)
            rows.append({"input": name, "kind": kind, "regions_silero": alone,
                         "regions_with_voicing": voiced, "emotion": r.emotion,
                         "reason": r.reason})  # fmt: skip
    return rows


def long_noise(hours: float) -> dict:
    """Speech regions per hour in ``hours`` of non-speech pieces joined."""
    pieces = non_speech_set()
    names = sorted(pieces)
    rng = np.random.default_rng(1)
    det = vad.SpeechDetector()
    alone = voiced = 0
    for _ in range(max(1, int(round(hours * 6)))):  # ten minutes at a time
        parts = []
        for _ in range(60):
            wave = pieces[names[rng.integers(len(names))]][: 10 * SR]
            parts.append(wave * np.float32(10 ** (rng.uniform(-20, 10) / 20)))
        a, v = regions_of(det, np.clip(np.concatenate(parts), -1, 1))
        alone, voiced = alone + a, voiced + v
    return {"hours": hours, "false_regions_per_hour_silero": round(alone / hours, 2),
            "false_regions_per_hour_with_voicing": round(voiced / hours, 2)}  # fmt: skip


def recordings(actors: int) -> dict:
    """Speech/non-speech frames right on recordings of RAVDESS clips with pauses and noise
    bursts (data.demo.build, 30 clips an actor), each detector under the bundled model."""
    import emovox
    from emovox.data import demo
    from emovox.infer.analyzer import AnalysisConfig

    rows = [r for r in read_corpus(DATA / "ravdess").rows if r.emotion != "calm"]
    out = {"actors": actors}
    for name, speech in (("silero", SILERO), ("with_voicing", VOICED)):
        model = emovox.load_model(config=AnalysisConfig(speech=speech), engine="torch")
        right = []
        for a in range(1, 2 * actors, 2):
            rec = demo.build([r for r in rows if r.speaker.endswith(f"{a:02d}")][:30], seed=a)
            result = model.predict(rec.wave, sr=SR)
            right.append(demo.score(result, rec.truth, len(rec.wave) / SR)["speech_accuracy"])
        out[f"speech_frames_right_{name}"] = round(100 * float(np.mean(right)), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpora", nargs="+", default=["ravdess", "ased", "nemo"])
    ap.add_argument("--hours", type=float, default=1.0, help="of long noise (default 1)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--actors", type=int, default=12, help="recordings, one per actor")
    ap.add_argument("--parts", nargs="+", default=PARTS, choices=PARTS)
    args = ap.parse_args()
    if "clips" in args.parts:
        found = speech_found(args.corpora, args.workers)
        for row in found["found"]:
            print(json.dumps({"table": "speech found", **row}), flush=True)
        for row in found["still_missed"]:
            print(json.dumps({"table": "still no speech", **row}), flush=True)
    if "non-speech" in args.parts:
        for row in non_speech_answers():
            print(json.dumps({"table": "non-speech", **row}), flush=True)
        print(json.dumps({"table": "long noise", **long_noise(args.hours)}), flush=True)
    if "recordings" in args.parts:
        print(json.dumps({"table": "recordings", **recordings(args.actors)}), flush=True)


if __name__ == "__main__":
    main()
