"""When should emovox say "unsure"? The risk-coverage curve and the false-emotion rate.

1. Risk-coverage on the speaker-independent folds of a finished ``emovox cv`` run: each fold's
   (calibrated) model on its own test actors' clips; for each threshold on the top
   probability, the share of clips answered (coverage) and the accuracy on them.
2. False emotions: inputs that hold no emotional speech (noise of three colours at four levels,
   tones, mains hum over silence: any emotion is false) and neutral synthetic speech (espeak-ng's
   voices when it is installed, ``apt-get install espeak-ng``: any emotion but neutral is
   false), analysed by the bundled model as ``emovox predict`` does (speech detection, then
   the model).

    emovox cv --labels 7 --ensemble 3 --out runs/enc7
    python benchmarks/abstain.py runs/enc7
    python benchmarks/abstain.py runs/enc7 --temperature 1.67   # the bundled model's calibration
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import emovox  # noqa: E402
from emovox.data import clips as clipdata  # noqa: E402
from emovox.data.corpora import Manifest  # noqa: E402
from emovox.infer import torch_engine  # noqa: E402
from emovox.infer.analyzer import AnalysisConfig  # noqa: E402
from emovox.store.runs import RunFolder  # noqa: E402

THRESHOLDS = [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
SENTENCES = [
    "The meeting is scheduled for three o'clock on Thursday afternoon.",
    "Please remember to bring the documents to the front desk.",
    "The train to the airport leaves every twenty minutes.",
]


def fold_predictions(
    cv_dir: Path, temperature: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(top probability, correct) of every test clip over all folds; ``temperature`` in place
    of each fold's own (e.g. the bundled model's, fitted on other corpora)."""
    top, correct = [], []
    for fold_dir in sorted(cv_dir.glob("fold*")):
        member = RunFolder(fold_dir).member(0)
        test = set(member.read_split()["test"])
        clips = clipdata.load_clips(
            [r for r in Manifest.read_tsv(member.manifest).rows if r.path in test]
        )
        predictor = torch_engine.load(fold_dir)
        if temperature is not None:
            predictor.backend.temperature = temperature
        probs = predictor.predict_waves(clips.waves)
        y = np.array([predictor.labels.index(r.emotion) for r in clips.rows])
        top.append(probs.max(1))
        correct.append(probs.argmax(1) == y)
    return np.concatenate(top), np.concatenate(correct)


def risk_coverage(top: np.ndarray, correct: np.ndarray) -> list[dict]:
    rows = []
    for t in THRESHOLDS:
        kept = top >= t
        rows.append(
            {
                "threshold": t,
                "coverage": round(float(kept.mean()), 4),
                "accuracy_answered": round(float(correct[kept].mean()), 4) if kept.any() else None,
            }
        )
    return rows


def non_speech(seconds: float = 5.0, sr: int = 16000) -> dict[str, np.ndarray]:
    """Noise (white, pink, brown) at -50..-20 dBFS RMS, tones, hum over silence."""
    rng = np.random.default_rng(0)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / sr), 1.0)
    colours = {"white": spectrum, "pink": spectrum / np.sqrt(f), "brown": spectrum / f}
    out = {}
    for name, spec in colours.items():
        x = np.fft.irfft(spec, n)
        x /= np.sqrt(np.mean(x**2))
        for db in (-50, -40, -30, -20):
            out[f"{name} noise {db} dBFS"] = x * 10 ** (db / 20)
    for hz in (220, 440, 1000):
        out[f"tone {hz} Hz"] = 0.3 * np.sin(2 * np.pi * hz * t)
    for hz in (50, 60):
        out[f"hum {hz} Hz"] = 0.02 * np.sin(2 * np.pi * hz * t) + 0.002 * rng.standard_normal(n)
    return {k: v.astype(np.float32) for k, v in out.items()}


def synthetic_speech() -> dict[str, Path]:
    """espeak-ng's neutral readings in several voices (none when espeak-ng is missing)."""
    exe = shutil.which("espeak-ng")
    if not exe:
        return {}
    folder = Path(tempfile.mkdtemp(prefix="emovox-espeak-"))
    out = {}
    for voice in ("en-us", "en-gb", "en-us+f3", "en-gb+m3", "de", "fr"):
        for k, text in enumerate(SENTENCES):
            path = folder / f"{voice.replace('+', '_')}-{k}.wav"
            subprocess.run([exe, "-v", voice, "-w", str(path), text], check=True)
            out[f"espeak {voice} #{k}"] = path
    return out


def false_emotions(threshold: float) -> dict:
    model = emovox.load_model(config=AnalysisConfig(threshold=threshold))
    results = {name: model.predict(wave, sr=16000) for name, wave in non_speech().items()}
    voices = {name: model.predict(str(path)) for name, path in synthetic_speech().items()}
    said = {k: r.emotion for k, r in results.items() if r.emotion is not None}
    # the voices read neutral sentences: any other emotion is a false one
    said_voice = {k: r.emotion for k, r in voices.items() if r.emotion not in (None, "neutral")}
    return {
        "threshold": threshold,
        "non_speech_inputs": len(results),
        "non_speech_false_emotion_rate": round(len(said) / len(results), 4),
        "non_speech_with_emotion": said,
        "synthetic_inputs": len(voices),
        "synthetic_false_emotion_rate": round(len(said_voice) / len(voices), 4) if voices else None,
        "synthetic_with_emotion": said_voice,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("cv_dir")
    ap.add_argument("--temperature", type=float, help="instead of each fold's own")
    args = ap.parse_args()
    top, correct = fold_predictions(Path(args.cv_dir), args.temperature)
    for row in risk_coverage(top, correct):
        print(json.dumps({"curve": "risk-coverage", "clips": len(top), **row}), flush=True)
    for t in THRESHOLDS:
        print(json.dumps({"curve": "false-emotion", **false_emotions(t)}), flush=True)


if __name__ == "__main__":
    main()
