import warnings

import numpy as np
import pytest
import soundfile as sf

from emovox import audio
from emovox.audio.decode import AudioLimits

from ..conftest import speechlike

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)


def test_loads_wav_flac_ogg_mp3_to_16k_mono(tmp_path):
    y = speechlike(1.0, sr=22050)
    for fmt in ("wav", "flac", "ogg", "mp3"):
        p = tmp_path / f"clip.{fmt}"
        sf.write(p, y, 22050)
        out = audio.load(p)
        assert out.dtype == np.float32 and out.ndim == 1
        assert abs(len(out) - 16000) < 0.02 * 16000, fmt  # mp3 adds encoder padding


def test_stereo_8bit_44k_is_averaged_and_resampled(tmp_path):
    left = speechlike(0.5, sr=44100)
    stereo = np.stack([left, -0.5 * left], axis=1)
    p = tmp_path / "s.wav"
    sf.write(p, stereo, 44100, subtype="PCM_U8")
    out = audio.load(p)
    assert len(out) == 8000
    ref = audio.load(p, sr=44100)
    # the mean of the channels is 0.25 * left, up to 8-bit quantisation
    assert np.allclose(ref, 0.25 * left, atol=0.02)


def test_bytes_input_matches_path(wav):
    p = wav(speechlike(0.5))
    assert np.array_equal(audio.load(p.read_bytes()), audio.load(p))


@pytest.mark.parametrize(
    "name, content, error, words",
    [
        ("nope.wav", None, audio.AudioMissingError, "not found"),
        ("zero.wav", b"", audio.AudioEmptyError, "empty"),
        (
            "rand.wav",
            np.random.default_rng(0).bytes(4000),
            audio.AudioDecodeError,
            "not a readable audio file",
        ),
        ("text.flac", b"hello, not audio", audio.AudioDecodeError, "not a readable"),
    ],
)
def test_unreadable_files_name_path_and_cause(tmp_path, name, content, error, words):
    p = tmp_path / name
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(error) as exc:
        audio.load(p)
    assert str(p) in str(exc.value) and words in exc.value.cause


def test_truncated_wav(wav):
    p = wav(speechlike(1.0))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.warns(audio.TruncatedWarning, match="truncated"):  # what decodes is used
        y = audio.load(p)
    assert 0.45 * 16000 < len(y) < 0.55 * 16000
    p.write_bytes(data[:30])  # cut inside the header
    with pytest.raises(audio.AudioDecodeError):
        audio.load(p)


def test_nan_float_wav(wav):
    y = speechlike(0.5)
    y[100:110] = np.nan
    p = wav(y, subtype="FLOAT")
    with pytest.raises(audio.AudioNonFiniteError, match="10 samples"):
        audio.load(p)


def test_ten_minutes_of_silence(wav):
    p = wav(np.zeros(16000 * 600, dtype=np.float32), subtype="PCM_16")
    with pytest.raises(audio.AudioSilentError) as exc:
        audio.load(p)
    assert "silent" in exc.value.cause


def test_too_short_and_too_long(wav):
    p = wav(speechlike(0.05))
    with pytest.raises(audio.AudioTooShortError, match="shorter"):
        audio.load(p)
    p = wav(speechlike(3.0), name="long.wav")
    with pytest.raises(
        audio.AudioTooLongError, match="longer than the maximum of 2 s .*--max-seconds"
    ):
        audio.load(p, limits=AudioLimits(max_seconds=2.0))


def test_clipping_warns_but_loads(wav):
    y = np.clip(speechlike(1.0) * 10, -1, 1)
    p = wav(y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = audio.load(p)
    assert len(out) == 16000
    assert any(issubclass(w.category, audio.ClippingWarning) for w in caught)


def test_every_error_is_an_audio_error():
    for cls in (
        audio.AudioMissingError,
        audio.AudioDecodeError,
        audio.AudioEmptyError,
        audio.AudioTooShortError,
        audio.AudioTooLongError,
        audio.AudioNonFiniteError,
        audio.AudioSilentError,
    ):
        assert issubclass(cls, audio.AudioError)


@pytest.mark.slow
def test_trim_silence_cuts_where_librosa_does(ravdess_manifest):
    import librosa

    for r in ravdess_manifest.rows[::97]:
        w = audio.load(r.path)
        for top_db in (30, 40, 60):
            _, (start, end) = librosa.effects.trim(
                w, top_db=top_db, frame_length=512, hop_length=160
            )
            cut = audio.trim_silence(w, top_db)
            assert np.array_equal(cut, w[start:end]), (r.path, top_db)
    assert 0.3 < len(audio.trim_silence(w, 30)) / len(w) < 0.9  # RAVDESS clips: ~half silence
    quiet = np.zeros(16000, dtype=np.float32)
    assert len(audio.trim_silence(quiet, 40)) == 16000  # nothing louder than the rest: kept
