"""The extremes: inputs a sample either side of every length the analysis decides by, shouted
speech, inputs that break, and what every output says of them (CLI, Python, service, batch)."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

import emovox
from emovox import audio
from emovox.audio import vad, voicing
from emovox.infer import adapt, timeline
from emovox.infer.analyzer import AnalysisConfig
from emovox.infer.result import KEYS

pytestmark = pytest.mark.slow
SR = audio.SAMPLE_RATE
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
LIMITS, SPEECH, WINDOW = audio.AudioLimits(), vad.VadConfig(), timeline.TimelineConfig()
# every length the analysis decides by, in samples: the shortest input, the shortest speech
# the detector keeps, one window (a clip or a timeline: the samples kept), the detector's
# block, the windows adaptation needs (20 s of speech: 9 windows, then 10), a clip in a group,
# the decoder's block
THRESHOLDS = {
    "min_seconds": round(LIMITS.min_seconds * SR),
    "min_speech": round(SPEECH.min_speech * SR),
    "window": round(WINDOW.window * SR),
    "vad_block": 512 * vad.FRAME,
    "adapt_windows": round(((10 - 1) * WINDOW.hop + WINDOW.window - WINDOW.hop) * SR),
    "clip_seconds": round(adapt.CLIP_SECONDS * SR),
    "decode_block": round(AnalysisConfig().block_seconds * SR),
}
LENGTHS = sorted(n + d for n in THRESHOLDS.values() for d in (-1, 0, 1))


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "emovox.cli", *args], capture_output=True,
                          text=True, env=ENV, timeout=600, **kw)  # fmt: skip


@pytest.fixture(scope="module")
def speech(ravdess_manifest) -> np.ndarray:
    """An actor's clips joined: speech to cut any length from."""
    rows = [r for r in ravdess_manifest.rows if r.speaker.endswith("05")][:40]
    return np.concatenate([audio.load(r.path) for r in rows])


@pytest.fixture(scope="module")
def lengths(speech, tmp_path_factory) -> list[Path]:
    """One WAV of each length in LENGTHS, cut from the middle of speech."""
    folder = tmp_path_factory.mktemp("lengths")
    out = []
    for n in LENGTHS:
        start = SR if n < 8 * SR else 0  # short ones from inside a clip's speech
        path = folder / f"len{n:07d}.wav"
        sf.write(path, np.resize(speech[start:], n), SR, subtype="FLOAT")
        out.append(path)
    return out


def _check_lengths(answers: list[dict], paths: list[Path]) -> None:
    """An answer or an error for each input in order, every key there; only the input under
    the minimum length is an error; no more than the detector's shortest is "too short"."""
    assert len(answers) == len(paths)
    for a, path in zip(answers, paths, strict=True):
        n = int(path.stem[3:])
        assert set(KEYS) <= set(a), (n, set(KEYS) - set(a))
        if n < THRESHOLDS["min_seconds"]:
            assert a["error"] and "shorter than the minimum" in a["error"], (n, a)
            continue
        assert a["error"] is None, (n, a["error"])
        assert (a["reason"] == "too_short") == (n <= THRESHOLDS["min_speech"]), (n, a)
        if n >= THRESHOLDS["window"] - 1:
            assert a["speech"] and a["segments"], (n, a)


def test_every_threshold_and_a_sample_either_side_through_the_cli_and_python(lengths):
    out = _cli("predict", *map(str, lengths), "--format", "json", "--no-progress")
    assert out.returncode == 1, out.stderr  # the one input under the minimum
    answers = json.loads(out.stdout)  # the list is closed
    _check_lengths(answers, lengths)
    assert "1 of 21 inputs could not be analysed" in out.stderr
    results = emovox.load_model().predict([str(p) for p in lengths])
    _check_lengths([r.to_dict() for r in results], lengths)
    # one window exactly is one clip; a sample more is read as a recording, not lost
    by = {int(p.stem[3:]): r for p, r in zip(lengths, results, strict=True)}
    window = THRESHOLDS["window"]
    assert by[window].duration == by[window + 1].duration == 4.0
    assert by[window].emotion is not None or by[window].reason == "unsure"
    assert by[window + 1].error is None and by[window + 1].segments


def test_every_threshold_through_the_service_and_batch(lengths, tmp_path):
    from tests.serve.test_app import Server

    server = Server()
    try:
        files = [("files", (p.name, p.read_bytes())) for p in lengths]
        reply = httpx.post(f"{server.url}/v1/predict_many", files=files, timeout=600)
    finally:
        server.stop()
    assert reply.status_code == 200
    _check_lengths(reply.json()["answers"], lengths)
    out = _cli("batch", *map(str, lengths), "--out", str(tmp_path / "b"), "--no-progress")
    assert out.returncode == 1, out.stderr
    from emovox.batch import output

    rows = {Path(r["path"]).name: r for r in output.read(tmp_path / "b").to_pylist()}
    assert len(rows) == len(lengths)  # every row written, the failing one among them
    failed = [name for name, r in rows.items() if r["status"] == "failed"]
    assert failed == [f"len{THRESHOLDS['min_seconds'] - 1:07d}.wav"]


class _Broken:
    """An open file whose read fails in a way no check foresees (a bug's stand-in is a real
    object here: a file-like whose read raises)."""

    name = "broken-stream"

    def read(self):
        raise RuntimeError("the disk went away mid-read")


def test_an_unexpected_failure_is_that_inputs_error_and_the_list_goes_on(ravdess_manifest):
    clip = ravdess_manifest.rows[0].path
    results = emovox.load_model().predict([clip, _Broken(), clip])
    assert [r.error is None for r in results] == [True, False, True]
    assert "RuntimeError: the disk went away mid-read" in results[1].error
    assert "please report it" in results[1].error
    assert results[0].probabilities == results[2].probabilities


def test_shouted_speech_silero_misses_is_found_and_answered(ravdess_manifest):
    # RAVDESS actor 06's strong fear and anger: Silero alone finds no speech in them
    rows = [r for r in ravdess_manifest.rows if r.speaker.endswith("06")
            and r.intensity == "strong" and r.emotion in ("fear", "angry")]  # fmt: skip
    det = vad.SpeechDetector()
    missed = []
    for r in rows:
        wave = audio.load(r.path)
        if not vad.regions(det.speech([wave], vad.VadConfig(voiced=None)), len(wave)):
            missed.append(r)
    assert len(missed) >= 4  # what the voicing rule is for
    results = emovox.load_model().predict([r.path for r in missed])
    assert all(r.speech and r.reason != "no_speech" for r in results)
    right = sum(res.emotion == r.emotion for res, r in zip(results, missed, strict=True))
    assert right >= len(missed) // 2


def test_tones_hum_and_music_in_silence_stay_non_speech():
    from benchmarks.detector import music

    quiet = np.zeros(SR, np.float32)
    t = np.arange(5 * SR) / SR
    inputs = [0.3 * np.sin(2 * np.pi * hz * t) for hz in (220, 440, 1000)]
    inputs += [0.05 * np.sin(2 * np.pi * 60 * t), music(10.0, 0, 3), music(10.0, 1, 3)]
    det = vad.SpeechDetector()
    for wave in inputs:
        wave = np.concatenate([quiet, wave.astype(np.float32), quiet])
        assert vad.regions(det.speech([wave]), len(wave)) == []


def test_frame_cues_of_any_sample_values_are_finite_and_scale_free():
    t = np.arange(4 * voicing.FRAME) / SR
    frames = np.sin(2 * np.pi * 180 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    frames = frames.reshape(-1, voicing.FRAME).astype(np.float32)
    prev = np.zeros(voicing.FRAME, np.float32)
    unit = voicing.frame_cues(frames, prev)
    with np.errstate(all="raise"):  # a file may hold samples of 1e30: nothing overflows
        huge = voicing.frame_cues(frames * np.float32(1e30), prev)
    assert np.isfinite(huge).all()
    assert np.allclose(huge[:, 1:], unit[:, 1:], atol=1e-4)  # voicing and pitch: the same
    assert np.allclose(huge[:, 0] - unit[:, 0], 600, atol=1e-3)  # the level: 1e30 is +600 dB


def _cues(voiced: int, gap: int = 0, step: float = 0.5, level: float = -20.0,
          floor: float = -70.0, voicing_: float = 0.95) -> np.ndarray:  # fmt: skip
    """Frame cues of a quiet ``floor``, then ``voiced`` frames at ``level`` and ``voicing_``
    (a gap of ``gap`` unvoiced ones after the first half) whose pitch moves ``step``
    semitones a frame, then floor."""
    rows = [(floor, 0.0, 100.0)] * 20
    pitch = 150.0
    for k in range(voiced):
        if k == voiced // 2:
            rows += [(level, 0.0, 100.0)] * gap
        pitch *= 2 ** ((step if k % 2 else -step) / 12)
        rows.append((level, voicing_, pitch))
    return np.array(rows + [(floor, 0.0, 100.0)] * 20, dtype=np.float32)


def test_the_voicing_rule_at_each_of_its_levels():
    cfg = voicing.VoicingConfig()
    hit = lambda **kw: voicing.voiced_speech(_cues(20, **kw), cfg).any()  # noqa: E731
    # voicing: at the bound counts
    assert [hit(voicing_=cfg.voicing + d) for d in (-0.01, 0.0, 0.01)] == [False, True, True]
    # over the floor (here -50 dBFS, where the least level does not bind)
    at = -50.0 + cfg.above_floor
    assert [hit(floor=-50.0, level=at + d) for d in (-0.01, 0.0, 0.01)] == [False, True, True]
    # the least level (the floor far below, -90 dBFS)
    at = cfg.min_level
    assert [hit(floor=-90.0, level=at + d) for d in (-0.01, 0.0, 0.01)] == [False, True, True]
    # the pitch's movement, either side of its bound (floats have no exact "at")
    assert [hit(step=cfg.movement * f) for f in (0.99, 1.01)] == [False, True]


def test_the_voicing_rule_at_each_of_its_counts():
    cfg = voicing.VoicingConfig()
    for n, expected in ((cfg.min_voiced - 1, False), (cfg.min_voiced, True),
                        (cfg.min_voiced + 1, True)):  # fmt: skip
        assert voicing.voiced_speech(_cues(n), cfg).any() == expected, n
    # a gap of ``gap`` frames joins the two halves into one run; one more splits them into
    # two runs too short to count
    n = 2 * (cfg.min_voiced // 2) + 2
    assert voicing.voiced_speech(_cues(n, cfg.gap - 1), cfg).any()
    assert voicing.voiced_speech(_cues(n, cfg.gap), cfg).any()
    assert not voicing.voiced_speech(_cues(n, cfg.gap + 1), cfg).any()
    held = cfg.movement  # the pitch step a frame, in semitones: still, at the bound, above
    assert not voicing.voiced_speech(_cues(20, step=held * 0.9), cfg).any()
    assert voicing.voiced_speech(_cues(20, step=held * 1.1), cfg).any()
    assert not voicing.voiced_speech(_cues(20, step=0.0), cfg).any()


def test_error_and_no_speech_entries_have_every_key_in_json_jsonl_and_csv(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    hum = tmp_path / "hum.wav"
    sf.write(hum, 0.05 * np.sin(2 * np.pi * 60 * np.arange(3 * SR) / SR), SR)
    for fmt in ("json", "jsonl"):
        out = _cli("predict", str(bad), str(hum), "--format", fmt, "--no-progress")
        rows = (
            json.loads(out.stdout)
            if fmt == "json"
            else list(map(json.loads, out.stdout.split("\n")[:-1]))
        )  # noqa: E501
        assert [list(r) for r in rows] == [list(KEYS)] * 2
        assert rows[0]["error"] and rows[0]["emotion"] is None and rows[0]["segments"] == []
        assert rows[1]["error"] is None and rows[1]["reason"] == "no_speech"
    out = _cli("predict", str(bad), str(hum), "--format", "csv", "--no-progress")
    table = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["path"] for r in table] == [str(bad), str(hum)]
    assert table[0]["error"] and table[1]["reason"] == "no_speech" and "speaker" in table[0]


@pytest.fixture(scope="module")
def conversation(ravdess_manifest, tmp_path_factory) -> Path:
    """About 70 s of a man (actor 01) and a woman (actor 02) taking turns of 1-4 clips."""
    from tests.media import conversation

    return conversation(ravdess_manifest, tmp_path_factory.mktemp("conv"))


def test_speakers_are_named_in_every_timeline_format(conversation, tmp_path):
    said = {}
    for fmt in ("text", "srt", "vtt", "audacity", "csv"):
        out = _cli(
            "predict", str(conversation), "--speakers", "2", "--format", fmt, "--no-progress"
        )
        assert out.returncode == 0, out.stderr
        said[fmt] = out.stdout
    for fmt in ("srt", "vtt", "audacity"):
        assert "[S1] " in said[fmt] and "[S2] " in said[fmt], said[fmt]
    assert "\tS1\t" in said["text"] and "\tS2\t" in said["text"]
    rows = list(csv.DictReader(io.StringIO(said["csv"])))
    assert {r["speaker"] for r in rows} == {"S1", "S2"}
    one = _cli("predict", str(conversation), "--format", "srt", "--no-progress").stdout
    assert "[S1]" not in one  # one voice: no speaker to name


def test_no_warning_for_a_clip_read_alone_and_one_for_a_recording_or_group(
    ravdess_manifest, speech
):
    model = emovox.load_model()
    clip = model.predict(speech[: 12 * SR], sr=SR)  # a 12 s clip: 5 windows, read alone
    assert clip.warnings == [] and clip.adapted.startswith("not adapted: ")
    # a recording (over 30 s) with too little speech to adapt to: warned
    pause = np.zeros(14 * SR, np.float32)
    rec = model.predict(np.concatenate([speech[: 6 * SR], pause, speech[: 6 * SR], pause]), sr=SR)
    assert any(w.startswith("not adapted to the speaker: ") for w in rec.warnings)
    # the line between a clip and a recording, 30 s: warned only past it
    at = round(adapt.CLIP_SECONDS * SR)
    said = []
    for n in (at - 1, at, at + 1):
        wave = np.zeros(n, np.float32)
        wave[: 6 * SR] = speech[: 6 * SR]
        said.append(bool(model.predict(wave, sr=SR).warnings))
    assert said == [False, False, True]
    rows = [r.path for r in ravdess_manifest.rows[:3]]
    with pytest.warns(UserWarning, match=r"1 group\(s\) have fewer than 10 clips") as said:
        results = model.predict(rows, groups=["a", "a", "a"])
    assert len([w for w in said if "group(s)" in str(w.message)]) == 1  # once for the call
    assert all(r.adapted.startswith("not adapted: group a has 3 clip(s)") for r in results)


def test_papercuts_are_named(tmp_path):
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(np.random.default_rng(0).bytes(20000))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    out = _cli("predict", str(junk), str(tmp_path / "none*.wav"), str(tmp_path / "d"),
               "--no-progress")  # fmt: skip
    assert out.returncode == 1
    assert f"{junk}: error: not a readable audio file or corrupt\n" in out.stderr
    assert "Note:" not in out.stderr and "does not exist or is not a regular" not in out.stderr
    assert "none*.wav: error: no file matches this pattern" in out.stderr
    assert "gone.wav: error: a symbolic link to " in out.stderr
    every = _cli("predict", str(junk), "--format", "srt", "--every", "60")
    assert every.returncode == 2 and "--every goes with --format csv" in every.stderr


def test_batch_options_take_their_own_words_and_each_has_help():
    from emovox.cli import adapting
    from emovox.cli.commands import build_parser

    parser = build_parser()
    args = parser.parse_args(["batch", "--adapt", "folder", "clips/", "--out", "x"])
    assert args.inputs == ["clips/"] and adapting.chosen(args, column=True) == "folder"
    args = parser.parse_args(["batch", "--adapt", "column:agent", "calls.csv", "--out", "x"])
    assert args.inputs == ["calls.csv"] and adapting.chosen(args, column=True) == "column:agent"
    with pytest.raises(ValueError, match="--adapt takes recording, folder, none, not"):
        adapting.chosen(args)  # predict has no columns
    # 0.5's spellings: the same answers, warned about
    args = parser.parse_args(adapting.joined(["batch", "--adapt-by", "column", "agent",
                                              "calls.csv", "--out", "x"]))  # fmt: skip
    assert args.inputs == ["calls.csv"] and adapting.chosen(args, column=True) == "column:agent"
    args = parser.parse_args(["predict", "--no-adapt", "a.wav"])
    assert adapting.chosen(args) == "none"
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("batch", "predict"):
        for action in sub.choices[name]._actions:
            assert action.help, (name, action.option_strings)


def test_batch_is_quiet_counts_once_and_ctrl_c_says_how_to_resume(ravdess_dir, tmp_path):
    clips = sorted(ravdess_dir.glob("Actor_0[12]/*.flac"))[:6]
    (tmp_path / "same.flac").symlink_to(clips[0])
    out = _cli("batch", *map(str, clips), str(tmp_path / "same.flac"), "--out",
               str(tmp_path / "small"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    for noise in ("WARNING", "core_worker", "Token authentication", "minimum number"):
        assert noise not in out.stderr, out.stderr
    assert (
        f"1 input(s) name a file listed before (the same path, or a link or another path "
        f"to it), each analysed as listed: {tmp_path / 'same.flac'}" in out.stderr
    )
    assert out.stderr.splitlines()[-1].startswith("7 written (7 done")
    assert (tmp_path / "small" / "ray.log").stat().st_size > 0  # Ray's words kept there
    big = tmp_path / "big"
    cmd = [sys.executable, "-m", "emovox.cli", "batch", str(ravdess_dir), "--out", str(big)]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    deadline = time.time() + 300
    while not list((big / "results").glob("part-*")) and time.time() < deadline:
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "of 1440 inputs written" in err and "run the same command again to resume" in err
