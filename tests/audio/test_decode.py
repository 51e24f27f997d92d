"""Formats people have: FFmpeg containers through PyAV, and long files read block by block."""

import numpy as np
import pytest
import soundfile as sf

from emovox import audio

from ..conftest import speechlike
from ..media import encode

pytestmark = pytest.mark.fast  # the file's tier (tests/README.md)


def _aligned_correlation(x: np.ndarray, y: np.ndarray, max_lag: int = 4000) -> float:
    """Best correlation of the two signals' magnitudes over codec delays up to ``max_lag``."""
    n = min(len(x), len(y)) - max_lag
    return max(np.corrcoef(np.abs(x[k : k + n]), np.abs(y[:n]))[0, 1] for k in range(0, max_lag, 8))


@pytest.mark.parametrize(
    "name, codec, kw",
    [
        ("memo.m4a", "aac", {}),
        ("raw.aac", "aac", {}),
        ("browser.webm", "libopus", {"rate": 48000}),
        ("video.mp4", "aac", {"video": True}),
        ("voice.ogg", "libopus", {"rate": 48000}),
    ],
)
def test_ffmpeg_formats_decode_to_the_same_sound(tmp_path, name, codec, kw):
    wave = speechlike(3.0)
    path = encode(tmp_path / name, wave, 16000, codec, **kw)
    sf_can = True
    try:
        sf.info(str(path))
    except sf.LibsndfileError:
        sf_can = False
    if name != "voice.ogg":
        assert not sf_can  # these need FFmpeg: libsndfile refuses them
    out = audio.load(path)
    assert out.dtype == np.float32 and abs(len(out) / 16000 - 3.0) < 0.1
    assert _aligned_correlation(out, wave) > 0.95
    assert audio.load(path.read_bytes()).shape == out.shape  # bytes (an upload) work too
    assert abs(audio.info(path)[2] - 3.0) < 0.1


def test_a_file_tagged_in_latin1_is_good_audio(tmp_path):
    """Tags that are not UTF-8 (an old tagger's Latin-1) do not make a file unreadable."""
    wave = speechlike(2.0)
    path = encode(tmp_path / "été.m4a", wave, 16000, "aac", tags={"title": "chanson d'été"},
                  tag_encoding="latin-1")  # fmt: skip
    out = audio.load(path)
    assert abs(len(out) / 16000 - 2.0) < 0.15 and _aligned_correlation(out, wave) > 0.95


def test_a_video_without_sound_and_garbage_are_clear_errors(tmp_path):
    path = encode(
        tmp_path / "silent_film.mp4", speechlike(1.0), 16000, "aac", video=True, audio=False
    )
    with pytest.raises(audio.AudioDecodeError, match="has no audio track") as exc:
        audio.load(path)
    assert str(path) in str(exc.value)
    junk = tmp_path / "notes.m4a"
    junk.write_bytes(b"these are my notes, not a recording" * 20)
    with pytest.raises(audio.AudioDecodeError, match="not a readable audio file"):
        audio.load(junk)


def test_stream_gives_the_loaded_wave_in_blocks(tmp_path, wav):
    """A 44.1 kHz stereo file streamed in 0.7 s blocks equals the whole file loaded (resampled
    by the same soxr filter, chunk by chunk), and an MP4's blocks equal its load."""
    rng = np.random.default_rng(0)
    stereo = np.stack([speechlike(9.0, 44100), speechlike(9.0, 44100, seed=1)], 1)
    path = wav(stereo + 0.001 * rng.standard_normal(stereo.shape).astype(np.float32), 44100)
    blocks = list(audio.stream(path, block_seconds=0.7))
    assert len(blocks) > 10 and all(b.dtype == np.float32 for b in blocks)
    whole = audio.load(path)
    joined = np.concatenate(blocks)
    assert abs(len(joined) - len(whole)) <= 1
    n = min(len(joined), len(whole))
    assert np.abs(joined[:n] - whole[:n]).max() < 1e-3
    mp4 = encode(tmp_path / "v.mp4", speechlike(5.0), 16000, "aac", video=True)
    assert np.array_equal(
        np.concatenate(list(audio.stream(mp4, block_seconds=1.0))), audio.load(mp4)
    )


def test_stream_refuses_nan_and_overlong_input_by_name(wav):
    y = speechlike(4.0)
    y[50000] = np.nan
    path = wav(y, subtype="FLOAT")
    with pytest.raises(audio.AudioNonFiniteError, match="from sample 48000"):
        list(audio.stream(path, block_seconds=1.0))
    long = wav(speechlike(5.0), name="long.wav")
    with pytest.raises(audio.AudioTooLongError, match="long.wav"):
        list(audio.stream(long, limits=audio.AudioLimits(max_seconds=2.0)))
