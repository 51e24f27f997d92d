"""`emovox predict` with the model bundled in the package, offline, on real RAVDESS clips."""

import json
import os
import subprocess
import sys

import pytest

from emovox.runs import DEFAULT_MODEL


def _one_clip_per_emotion(manifest, labels):
    """One clip of each emotion from actors 1-7 (all of RAVDESS trained the bundled model,
    so this checks that the shipped files load and compute what training saw)."""
    picked = {}
    for r in manifest.rows:
        strong = r.intensity == "strong" or r.emotion == "neutral"  # neutral has no strong
        if r.emotion in labels and r.emotion not in picked and strong:
            picked[r.emotion] = r
    return list(picked.values())


def test_bundled_model_is_small_safetensors_and_json():
    files = sorted(p.name for p in DEFAULT_MODEL.iterdir())
    assert "model.json" in files and any(f.endswith(".safetensors") for f in files)
    assert not any(f.endswith((".pt", ".pth", ".pkl", ".bin")) for f in files)
    assert sum(p.stat().st_size for p in DEFAULT_MODEL.iterdir()) <= 30e6
    spec = json.loads((DEFAULT_MODEL / "model.json").read_text())
    assert spec["labels"] == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def test_predict_cli_offline_with_a_bad_file_among_good_ones(ravdess_manifest, tmp_path):
    spec = json.loads((DEFAULT_MODEL / "model.json").read_text())
    rows = _one_clip_per_emotion(ravdess_manifest, spec["labels"])
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    paths = [rows[0].path, str(bad), *[r.path for r in rows[1:]]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "emovox.cli", "predict", *paths, "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 1  # one file failed; the others still got predictions
    results = json.loads(out.stdout)
    assert [r["path"] for r in results] == paths
    assert results[1]["path"] == str(bad) and results[1]["error"]
    good = [r for r in results if "error" not in r]
    assert len(good) == len(rows) == 7
    for r in good:
        assert set(r["probabilities"]) == set(spec["labels"])
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        assert r["confidence"] == max(r["probabilities"].values())
        assert r["emotion"] == max(r["probabilities"], key=r["probabilities"].get)
    truth = {r.path: r.emotion for r in rows}
    correct = sum(r["emotion"] == truth[r["path"]] for r in good)
    assert correct >= 5, good
