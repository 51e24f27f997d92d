"""Property-based fuzzing of the entry points (hypothesis): the loader, predict on files and
on waves, data inspection and training data. Each case ends in a result or a typed error that
names the input: never another exception, a hang or unbounded memory. CI runs a few hundred
cases; ``python benchmarks/fuzz.py`` runs tens of thousands."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import emovox
from emovox import audio
from emovox.cli.commands import main
from emovox.data import corpora
from emovox.data.clips import load_clips

from .. import fuzzing

pytestmark = pytest.mark.slow  # the file's tier (tests/README.md)


def fast(n: int) -> settings:
    """``n`` cases, the same ones each run (CI is reproducible), each under 2 s."""
    return settings(
        max_examples=n,
        deadline=2000,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module")
def analyzer():
    return emovox.load_model(engine="numpy")


@fast(400)
@given(fuzzing.any_file)
def test_the_loader_answers_any_bytes_with_samples_or_an_audio_error(case):
    _, blob = case
    try:
        wave = audio.load(blob)
    except audio.AudioError as exc:
        assert exc.cause and exc.path == "<bytes>"
        return
    assert wave.dtype == np.float32 and wave.ndim == 1 and np.isfinite(wave).all()


def test_the_loader_stays_within_memory_on_mutations():
    """400 more mutations in a child process: its peak memory grows by less than 200 MB after
    its first load (measured in the process doing the work: this one's lifetime peak was
    raised by earlier tests and could not move)."""
    import subprocess
    import sys

    code = f"""
import resource, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from emovox import audio
from tests import fuzzing
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
audio.load(fuzzing.SEEDS["wav"])
before = peak()
@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(fuzzing.mutated())
def load(case):
    try:
        audio.load(case[1])
    except audio.AudioError:
        pass
load()
print(peak() - before)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) < 200


@fast(80)
@given(fuzzing.any_file)
def test_predict_on_any_file_gives_a_result(analyzer, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", audio.ClippingWarning)
        fuzzing.outcome(analyzer.predict(case[1]))


@fast(200)
@given(fuzzing.waves())
def test_predict_on_any_wave_gives_a_result(analyzer, case):
    _, x, sr = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", audio.ClippingWarning)
        kind = fuzzing.outcome(analyzer.predict(np.asarray(x), sr=sr))
    if sr <= 0:
        assert kind.startswith("error")


def test_extreme_files_are_answered_from_their_headers(analyzer, tmp_path):
    """A five-hour file (over the 4 h limit), 192 kHz with 8 channels, one sample and no
    sample at all."""
    long = tmp_path / "five-hours.wav"
    sf.write(long, np.zeros(5 * 3600 * 1000, np.int16), 1000, subtype="PCM_U8")
    wide = tmp_path / "wide.wav"
    sf.write(wide, np.tile(fuzzing._speechlike(2.0, 192000)[:, None], (1, 8)), 192000)
    one, empty = tmp_path / "one.wav", tmp_path / "empty.flac"
    sf.write(one, np.array([0.5], np.float32), 16000)
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(audio.AudioTooLongError, match="five-hours.wav"):
        audio.load(long)
    assert audio.load(wide).shape == (32000,)
    for path, error in ((long, "longer"), (one, "short"), (empty, "no audio|empty|zero")):
        result = analyzer.predict(path)
        assert result.error and str(path) == result.path, result
        assert re.search(error, result.error), result.error
    assert analyzer.predict(wide).error is None


def test_inspection_and_training_data_report_every_bad_file(tmp_path, ravdess_manifest):
    """A manifest of fuzzed files beside real clips: inspect lists each bad one by path and
    loading for training keeps the good ones."""
    good = ravdess_manifest.rows[:4]
    bad = []
    for k, (name, blob) in enumerate([("random", b"RIFF\x00\x00"), ("wav", b"")]):
        bad.append(fuzzing.write(tmp_path, name, blob, k))
    for k, name in enumerate(sorted(fuzzing.SEEDS)):
        blob = bytearray(fuzzing.SEEDS[name])
        blob[8:40] = bytes(32)  # the header wiped
        bad.append(fuzzing.write(tmp_path, name, bytes(blob[: len(blob) // 3]), 10 + k))
    rows = good + [
        corpora.Utterance(path=str(p), corpus="fuzz", speaker="x", emotion="angry") for p in bad
    ]
    checked = corpora.check_audio(corpora.Manifest(rows, []))
    refused = {p.path for p in checked.problems}
    assert {r.path for r in good} <= {r.path for r in checked.rows}
    assert len(refused) + len(checked.rows) == len(rows) and refused
    clips = load_clips(rows)
    assert len(clips.waves) == len(checked.rows)
    assert {p for p, _ in clips.errors} == refused
    tsv = tmp_path / "fuzz.tsv"
    corpora.Manifest(rows, []).write_tsv(tsv)
    assert main(["data", "inspect", str(tsv)]) == 0


def test_seed_files_are_real_audio():
    """The fuzzer starts from decodable files in every format it mutates."""
    for name, blob in fuzzing.SEEDS.items():
        assert len(audio.load(blob)) > 8000, name
    assert Path(fuzzing.__file__).exists()


@fast(60)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["float32", "float64", "int16", "int32", "uint8", "2d", "nan"]),
            st.integers(0, 6000),
            st.floats(-1e6, 1e6, allow_nan=False),
        ),
        max_size=8,
    ),
    st.sampled_from([8000, 16000, 44100]),
)
def test_a_live_stream_answers_any_frames_with_events_or_a_value_error(analyzer, frames, sr):
    """Frames of any type, size and value: events, or a ValueError that says what is wrong;
    the stream still closes with a result."""
    stream = analyzer.stream(sr)
    rng = np.random.default_rng(len(frames))
    try:
        for kind, n, scale in frames:
            x = rng.standard_normal(n) * scale
            x = {"2d": x.reshape(1, -1), "nan": np.where(x > 0, np.nan, x)}.get(kind, x)
            x = x.astype(kind) if kind in ("float32", "float64", "int16", "int32", "uint8") else x
            try:
                events = stream.feed(x)
            except ValueError as exc:
                assert re.search(r"mono|float or int16|NaN", str(exc)), exc
                continue
            assert all(e.type in ("speech_started", "speech_ended", "segment", "answer",
                                  "adapted") for e in events)  # fmt: skip
    finally:
        result = stream.close()
    assert result.path == "<stream>" and (result.error is not None or result.summary)
