"""model.stream(): live events from audio fed as it arrives, and a final result that is
predict's on the same audio."""

import numpy as np
import pytest

import emovox

from ..conftest import speechlike

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)


@pytest.fixture(scope="module")
def model():
    return emovox.load_model()


def _talk(seconds: float = 24.0, seed: int = 0) -> np.ndarray:
    """Speech-like bursts of 1.5-5 s between pauses of quiet noise."""
    rng = np.random.default_rng(seed)
    parts, n = [], 0
    while n < seconds * 16000:
        parts.append(speechlike(float(rng.uniform(1.5, 5.0)), seed=int(rng.integers(1000))))
        parts.append(0.001 * rng.standard_normal(int(rng.uniform(0.5, 1.5) * 16000)))
        n += len(parts[-1]) + len(parts[-2])
    return np.concatenate(parts).astype(np.float32)


def _fed(stream, wave, rng) -> list:
    events, i = [], 0
    while i < len(wave):
        n = int(rng.integers(1, 8001))
        events += stream.feed(wave[i : i + n])
        i += n
    return events


def test_a_stream_ends_with_predicts_answer_and_says_things_in_order(model):
    wave = _talk()
    stream = model.stream(sr=16000)
    events = _fed(stream, wave, np.random.default_rng(1))
    final, want = stream.close(), model.predict(wave, sr=16000)
    assert final.probabilities == want.probabilities and final.emotion == want.emotion
    assert [s.to_dict() for s in final.segments] == [s.to_dict() for s in want.segments]
    kinds = [e.type for e in events]
    assert kinds[0] == "speech_started" and "segment" in kinds and "answer" in kinds
    assert kinds.index("segment") < kinds.index("answer")
    times = [e.time for e in events if e.type == "segment"]
    assert times == sorted(times) and times[-1] <= len(wave) / 16000
    starts = [e.segment.start for e in events if e.type == "segment"]
    assert len(starts) == len(set(starts))  # no window said twice
    # each live segment lies within a stretch of the final timeline's speech (within a hop)
    for s in (e.segment for e in events if e.type == "segment"):
        assert any(w.start - 2.0 <= s.start and s.end <= w.end + 2.0 for w in want.segments)


def test_int16_frames_are_read_as_a_wav_s_are(model):
    wave = _talk(8.0, seed=3)
    pcm = np.round(wave * 32767).astype(np.int16)
    a, b = model.stream(16000), model.stream(16000)
    ea, eb = a.feed(pcm), b.feed((pcm / 32768.0).astype(np.float32))
    assert [e.to_dict() for e in ea] == [e.to_dict() for e in eb]
    assert a.close().probabilities == b.close().probabilities


def test_a_stream_at_another_rate_is_resampled(model):
    import soxr

    wave = _talk(12.0, seed=5)
    at48 = soxr.resample(wave, 16000, 48000).astype(np.float32)
    stream = model.stream(sr=48000)
    events = _fed(stream, at48, np.random.default_rng(2))
    final = stream.close()
    assert any(e.type == "segment" for e in events)
    assert final.duration == pytest.approx(len(wave) / 16000, abs=0.01) and final.speech


def test_bad_frames_are_refused_by_name_and_a_closed_stream_takes_nothing(model):
    stream = model.stream(16000)
    for bad, why in [
        (np.zeros((2, 160), np.float32), "mono"),
        (np.zeros(160, np.int32), "float or int16"),
        (np.full(160, np.nan, np.float32), "NaN"),
    ]:
        with pytest.raises(ValueError, match=why):
            stream.feed(bad)
    assert stream.feed(np.zeros(0, np.float32)) == []
    result = stream.close()
    assert result.error is not None or result.speech is False  # no audio: nothing to say
    with pytest.raises(ValueError, match="closed"):
        stream.feed(np.zeros(160, np.float32))
    for sr in (0, 768_001, 16000.5):
        with pytest.raises(ValueError, match="sample rate"):
            model.stream(sr)
    assert model.stream(768_000).sr == 768_000 and model.stream(1).sr == 1
