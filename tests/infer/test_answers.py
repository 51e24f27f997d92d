"""One answer shape for every input, one definition of a recording's overall answer, the
timeline exports read back by real parsers, and the command line's edges (interruptions,
missing lists, limits named by their option)."""

import csv
import io
import json
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import soundfile as sf

import emovox
from emovox import audio
from emovox.data import demo
from emovox.data.labels import label_set
from emovox.infer.analyzer import REASONS, AnalysisConfig

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)

LABELS = label_set(7)
KEYS = {"path", "emotion", "confidence", "probabilities", "speech", "reason", "detail"}
KEYS |= {"duration", "segments", "summary", "warnings", "arousal", "valence", "adapted", "error"}
KEYS |= {"prior"}
CLI = [sys.executable, "-m", "emovox.cli", "predict", "--no-progress"]


@pytest.fixture(scope="module")
def model():
    return emovox.load_model()


@pytest.fixture(scope="module")
def talk(ravdess_manifest, tmp_path_factory):
    """About 40 s of one actor's clips with pauses, and its truth."""
    rows = [r for r in ravdess_manifest.rows if r.speaker.endswith("07") and r.emotion in LABELS]
    rec = demo.build(rows[::3][:12], seed=5)
    path = tmp_path_factory.mktemp("talk") / "talk.flac"
    sf.write(path, rec.wave, 16000)
    return path


def _clip(manifest, seconds_below: float):
    for r in manifest.rows:
        d = sf.info(r.path).duration
        if r.emotion in LABELS and d < seconds_below:
            return r.path, d
    raise AssertionError("no such clip")


@pytest.mark.slow
def test_every_input_has_the_same_keys_and_every_null_a_reason(ravdess_manifest, model, talk):
    path, _ = _clip(ravdess_manifest, 3.9)
    wave = emovox.load(path)
    quiet = wave / np.abs(wave).max() * np.float32(0.5 * 10 ** (-60 / 20))  # a file 60 dB down
    noise = (0.05 * np.random.default_rng(0).standard_normal(16000 * 5)).astype(np.float32)
    results = [
        model.predict(path),
        model.predict(np.concatenate([wave, wave[: 16000 // 2]]), sr=16000),  # 4.4 s or so
        model.predict(talk),
        model.predict(np.zeros(16000 * 3, np.float32), sr=16000),
        model.predict(quiet, sr=16000),
        model.predict(noise, sr=16000),
    ]
    for r in results:
        d = r.to_dict()
        assert set(d) == KEYS, set(d) ^ KEYS
        json.dumps(d)
        assert isinstance(d["segments"], list) and d["summary"]["duration"] == d["duration"]
        assert (d["emotion"] is None) == (d["reason"] is not None)
        assert d["reason"] is None or (d["reason"] in REASONS and d["detail"])
        for s in d["segments"]:
            assert (s["emotion"] is None) == (s["reason"] is not None)
            assert -1 <= s["arousal"] <= 1 and -1 <= s["valence"] <= 1
        if (
            d["probabilities"] is not None
        ):  # the model's arousal heads (tests/infer/test_dimensions.py)
            assert -1 <= d["arousal"] <= 1 and -1 <= d["valence"] <= 1
    clip, _, recording, silent, too_quiet, nothing = results
    assert len(clip.segments) == 1 and clip.segments[0].emotion == clip.emotion
    assert clip.summary["speech_duration"] > 0 and len(recording.segments) > 3
    assert [r.reason for r in (silent, too_quiet, nothing)] == ["silent", "too_quiet", "no_speech"]
    assert silent.speech is False and silent.error is None and silent.segments == []
    assert "quiet" in too_quiet.detail and "dBFS" in too_quiet.detail


@pytest.mark.slow
def test_a_recordings_answer_is_its_label_confidence_and_threshold_together(model, talk):
    """The overall answer is decided like a clip's: from the mean of the curve over speech,
    the threshold applied to it."""
    from emovox.infer.analyzer import Analyzer

    r = model.predict(talk)
    top = max(r.probabilities, key=r.probabilities.get)
    assert r.confidence == r.probabilities[top]
    assert r.emotion == (top if r.confidence >= 0.3 else None)
    strict = Analyzer(model.engine, AnalysisConfig(threshold=0.99)).predict(talk)
    assert strict.emotion is None and strict.reason == "unsure"
    assert strict.probabilities == r.probabilities and "0.99" in strict.detail
    lenient = Analyzer(model.engine, AnalysisConfig(threshold=0.0)).predict(talk)
    assert lenient.emotion == top and lenient.confidence == r.confidence


@pytest.mark.slow
def test_paths_bytes_open_files_and_waves_give_one_answer(ravdess_manifest, model):
    path, _ = _clip(ravdess_manifest, 3.9)
    with open(path, "rb") as fh:
        from_file = model.predict(fh)
    from_bytes = model.predict(open(path, "rb").read())
    from_wave = model.predict(emovox.load(path), sr=16000)
    from_path = model.predict(path)
    assert from_file.path == str(path)
    for other in (from_file, from_bytes, from_wave):
        assert other.probabilities == pytest.approx(from_path.probabilities, abs=1e-4)
    with pytest.raises(ValueError, match="sample rate"):
        model.predict(emovox.load(path))


@pytest.mark.slow
def test_a_truncated_wav_is_analysed_with_a_warning_everywhere(ravdess_manifest, model, tmp_path):
    path, _ = _clip(ravdess_manifest, 3.9)
    wave = emovox.load(path)
    full = tmp_path / "full.wav"
    sf.write(full, wave, 16000, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.8)])
    with pytest.warns(audio.TruncatedWarning, match="truncated"):
        loaded = emovox.load(cut)
    assert 0.75 * len(wave) < len(loaded) < 0.85 * len(wave)
    r = model.predict(cut)
    assert r.error is None and r.probabilities is not None and "truncated" in r.warnings[0]
    assert model.predict(full).warnings == []
    out = subprocess.run([*CLI, str(cut)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and f"emovox: warning: {cut}: truncated" in out.stderr


@pytest.mark.slow
def test_timeline_exports_read_back(model, talk, tmp_path):
    import srt
    import webvtt

    from emovox.infer.formats import per_interval, to_audacity, to_srt, to_vtt

    r = model.predict(talk)
    said = [(s.start, s.end, s.emotion or s.reason) for s in r.segments]
    cues = list(srt.parse(to_srt(r)))
    assert [(c.start.total_seconds(), c.end.total_seconds()) for c in cues] == [
        pytest.approx((a, b), abs=1e-3) for a, b, _ in said
    ]
    assert [c.content.split()[0] for c in cues] == [e for _, _, e in said]
    vtt = webvtt.from_buffer(io.StringIO(to_vtt(r)))

    def seconds(stamp: str) -> float:
        h, m, s = stamp.split(":")
        return 3600 * int(h) + 60 * int(m) + float(s)

    assert [(seconds(c.start), seconds(c.end), c.text.split()[0]) for c in vtt] == [
        (pytest.approx(a, abs=1e-3), pytest.approx(b, abs=1e-3), e) for a, b, e in said
    ]
    rows = list(csv.reader(io.StringIO(to_audacity(r)), delimiter="\t"))
    assert [(float(a), float(b), t.split()[0]) for a, b, t in rows] == [
        (pytest.approx(a, abs=1e-3), pytest.approx(b, abs=1e-3), e) for a, b, e in said
    ]
    minutes = per_interval(r, model.labels, 10.0)
    assert len(minutes) == int(np.ceil(r.duration / 10)) and minutes[-1]["end"] == r.duration
    speech = sum(s.end - s.start for s in r.segments)
    assert sum(m["speech_seconds"] for m in minutes) == pytest.approx(speech, abs=0.01)
    for m in minutes:
        shares = [v for k, v in m.items() if k.startswith("share_")]
        assert sum(shares) == pytest.approx(1.0 if m["speech_seconds"] else 0.0, abs=1e-3)


@pytest.mark.slow
def test_exports_from_the_command_line(talk, ravdess_manifest, tmp_path):
    import srt

    out = subprocess.run([*CLI, str(talk), "--format", "srt"], capture_output=True, text=True)
    assert out.returncode == 0 and len(list(srt.parse(out.stdout))) > 3
    two = [str(talk), _clip(ravdess_manifest, 3.9)[0]]
    refused = subprocess.run([*CLI, *two, "--format", "vtt"], capture_output=True, text=True)
    assert refused.returncode == 2 and "--output-dir" in refused.stderr
    done = subprocess.run(
        [*CLI, *two, "--format", "vtt", "--output-dir", str(tmp_path / "subs")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in (tmp_path / "subs").iterdir())
    assert files == ["000-talk.vtt", f"001-{sf.SoundFile(two[1]).name.split('/')[-1][:-5]}.vtt"]
    per_minute = subprocess.run(
        [*CLI, str(talk), "--format", "csv", "--every", "20"], capture_output=True, text=True
    )
    table = list(csv.DictReader(io.StringIO(per_minute.stdout)))
    assert [float(t["start"]) for t in table] == [0.0, 20.0, 40.0][: len(table)]
    assert "share_angry" in table[0] and "dominant" in table[0]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_ctrl_c_keeps_complete_output(ravdess_manifest, fmt):
    """Interrupted after the first results, every format is still whole: json closes its
    list, each line or row that was written is complete."""
    paths = [r.path for r in ravdess_manifest.rows[:200]]
    proc = subprocess.Popen(
        [*CLI, *paths, "--format", fmt, "--engine", "numpy"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = proc.stdout.readline()  # a result (json, jsonl) or the header (csv)
    if fmt == "csv":
        first += proc.stdout.readline()  # and its first row
    assert first, proc.stderr.read()
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    text = first + rest
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted:" in err, err
    if fmt == "json":
        got = json.loads(text)
    elif fmt == "jsonl":
        got = [json.loads(line) for line in text.splitlines()]
    else:
        got = list(csv.DictReader(io.StringIO(text)))
        assert all(row["p_angry"] for row in got)
    assert 0 < len(got) < len(paths)


@pytest.mark.slow
def test_lists_and_limits_are_named(tmp_path, ravdess_manifest):
    missing = subprocess.run([*CLI, "@nowhere.txt"], capture_output=True, text=True)
    assert missing.returncode == 2 and "@nowhere.txt" in missing.stderr
    assert "Errno" not in missing.stderr and "Traceback" not in missing.stderr
    path = ravdess_manifest.rows[0].path
    long = subprocess.run(
        [*CLI, path, "--max-seconds", "1", "--format", "jsonl"], capture_output=True, text=True
    )
    assert long.returncode == 1 and "--max-seconds" in json.loads(long.stdout)["error"]
    from emovox.serve.config import ServeConfig

    assert ServeConfig().max_seconds == audio.AudioLimits().max_seconds >= 4 * 3600


def test_load_still_refuses_silence_but_predict_answers_it(wav, model):
    silent = wav(np.zeros(16000, np.float32))
    with pytest.raises(audio.AudioSilentError):
        emovox.load(silent)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = model.predict(silent)
    assert r.reason == "silent" and r.error is None
