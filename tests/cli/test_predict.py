"""`emovox predict` with the model bundled in the package, offline, on real RAVDESS clips."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emovox.store.runs import DEFAULT_MODEL

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)


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
    # plain heads, and the speaker-normalised ones (for speech adapted to its voice) named as
    # the recording head: what the model's metadata says, whatever its size
    norm = {m: json.loads((DEFAULT_MODEL / f"{m}.json").read_text()).get("speaker_norm", 0)
            for m in spec["members"]}  # fmt: skip
    assert spec["recording_head"]["members"] == [m for m, n in norm.items() if n]
    assert 0 < len(spec["recording_head"]["members"]) < len(norm)


@pytest.mark.slow
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
    good = [r for r in results if r["error"] is None]
    assert len(good) == len(rows) == 7
    for r in good:
        assert set(r["probabilities"]) == set(spec["labels"])
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        assert r["confidence"] == max(r["probabilities"].values())
        top = max(r["probabilities"], key=r["probabilities"].get)
        if r["emotion"] is None:  # under the model's own gate
            assert r["reason"] == "unsure" and r["confidence"] < spec["threshold"]
        else:
            assert r["emotion"] == top
    truth = {r.path: r.emotion for r in rows}
    correct = sum(
        max(r["probabilities"], key=r["probabilities"].get) == truth[r["path"]] for r in good
    )
    assert correct >= 5, good


def _cli(*args, stdin=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "emovox.cli", "predict", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=600,
    )


@pytest.mark.slow
def test_predict_takes_folders_lists_globs_and_stdin(ravdess_manifest, tmp_path):
    rows = [r for r in ravdess_manifest.rows if r.emotion != "calm"][:3]
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for k, r in enumerate(rows[:2]):
        (folder / ("sub" if k else "") / f"c{k}.flac").symlink_to(r.path)
    (folder / "notes.txt").write_text("not audio, skipped in folders")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# a comment\n{rows[2].path}\n")
    out = _cli(
        str(folder),
        f"@{listing}",
        str(tmp_path / "in" / "*.flac"),
        "-",
        "--format",
        "jsonl",
        stdin=Path(rows[0].path).read_bytes(),
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.decode().splitlines()]
    assert [d["path"] for d in lines] == [
        str(folder / "c0.flac"),
        str(folder / "sub" / "c1.flac"),
        rows[2].path,
        str(folder / "c0.flac"),
        "-",
    ]
    assert lines[0]["probabilities"] == lines[3]["probabilities"] == lines[4]["probabilities"]


@pytest.mark.slow
def test_a_long_recording_a_bad_file_and_a_clip_in_one_call(ravdess_manifest, tmp_path):
    """A 73 s recording (once: a crash), a broken file and a clip: each gets its answer; text
    mode keeps errors off stdout; csv has a row per segment; the timeline is drawn."""
    import numpy as np
    import soundfile as sf

    from emovox import audio

    rows = [r for r in ravdess_manifest.rows if r.speaker.endswith("09") and r.emotion != "calm"]
    parts = [x for r in rows[:20] for x in (audio.load(r.path), np.zeros(8000, np.float32))]
    long = tmp_path / "talk.wav"
    sf.write(long, np.concatenate(parts)[: 73 * 16000], 16000)
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"ID3" + b"\x00" * 200)
    out = _cli(str(long), str(bad), rows[0].path, "--format", "json", "--plot", str(tmp_path / "p"))
    assert out.returncode == 1
    talk, broken, clip = json.loads(out.stdout)
    assert broken["path"] == str(bad) and broken["error"] and broken["emotion"] is None
    assert list(broken) == list(talk) == list(clip)  # one set of keys, the error's too
    assert clip["speech"] is True and len(clip["segments"]) == 1 and clip["emotion"]
    assert talk["speech"] is True and talk["summary"]["duration"] == pytest.approx(73.0, abs=0.01)
    assert len(talk["segments"]) >= 10 and all(s["end"] > s["start"] for s in talk["segments"])
    drawn = sorted(p.name for p in (tmp_path / "p").glob("*.png"))  # every readable input
    assert drawn == ["000-talk.png", f"002-{Path(rows[0].path).stem}.png"]
    text = _cli(str(bad), rows[0].path, "--no-progress")
    assert b"broken" not in text.stdout and b"broken.mp3: error:" in text.stderr
    assert text.stdout.decode().startswith(rows[0].path)
    rows_csv = _cli(str(long), rows[0].path, "--format", "csv").stdout.decode().splitlines()
    assert rows_csv[0].startswith(
        "path,start,end,speaker,emotion,confidence,speech,reason,arousal,valence,error,p_angry"
    )
    assert sum(r.startswith(str(long)) for r in rows_csv) == len(talk["segments"])


def test_bad_options_and_devices_are_one_line_errors(tmp_path, wav):
    import numpy as np

    for args, words in (
        (["x.wav", "--threshold", "2"], b"between 0 and 1"),
        (["x.wav", "--max-seconds", "-5"], b"positive number of seconds"),
        (["x.wav", "--device", "cuda"], b"not available"),
        (["x.wav", "--model", str(tmp_path)], b"not a model"),
        ([str(tmp_path / "empty-folder")], b"no inputs"),
    ):
        (tmp_path / "empty-folder").mkdir(exist_ok=True)
        out = _cli(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert words in out.stderr and b"Traceback" not in out.stderr
    t = np.arange(16000 * 3) / 16000
    loud = wav(np.clip(3 * np.sin(2 * np.pi * 200 * t), -1, 1).astype(np.float32), name="loud.wav")
    out = _cli(str(loud), "--no-progress")
    warning = [x for x in out.stderr.decode().splitlines() if "clipped" in x]
    assert len(warning) == 1 and warning[0].startswith("emovox: warning: ")
    assert "warnings.warn" not in out.stderr.decode()
