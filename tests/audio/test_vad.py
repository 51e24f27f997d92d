"""Speech detection: Silero's ONNX model run without torch gives the package's own answers."""

import numpy as np
import pytest

from emovox import audio
from emovox.audio import vad

from ..conftest import speechlike

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)


def _recording(ravdess_manifest, n: int = 6) -> np.ndarray:
    rows = [r for r in ravdess_manifest.rows if r.speaker.endswith("11")][:n]
    gap = np.zeros(16000, dtype=np.float32)
    return np.concatenate([x for r in rows for x in (audio.load(r.path), gap)])


@pytest.mark.slow
def test_probabilities_and_regions_equal_the_silero_package(ravdess_manifest):
    from silero_vad.sequence_vad import SileroVADSequence
    from silero_vad.utils_vad import get_speech_timestamps_from_probs

    wave = _recording(ravdess_manifest)
    det = vad.SpeechDetector()
    # fed in odd-sized blocks, as a streamed file arrives
    probs = det.probabilities(wave[i : i + 33333] for i in range(0, len(wave), 33333))
    reference = SileroVADSequence(str(vad.model_path())).audio_forward(wave)
    assert np.array_equal(probs, reference)
    ours = vad.regions(probs, len(wave))
    theirs = get_speech_timestamps_from_probs(
        reference, sampling_rate=16000, audio_length_samples=len(wave)
    )
    assert len(ours) == len(theirs) >= 6
    assert [(round(a * 16000), round(b * 16000)) for a, b in ours] == [
        (t["start"], t["end"]) for t in theirs
    ]


def test_noise_tones_and_silence_hold_no_speech():
    det = vad.SpeechDetector()
    rng = np.random.default_rng(0)
    t = np.arange(5 * 16000) / 16000
    for signal in (
        0.1 * rng.standard_normal(len(t)),
        0.3 * np.sin(2 * np.pi * 440 * t),
        0.01 * np.sin(2 * np.pi * 50 * t),  # mains hum
    ):
        wave = signal.astype(np.float32)
        assert vad.regions(det.probabilities([wave]), len(wave)) == []
    speech = speechlike(2.0)  # a buzzy tone with a moving pitch is no voice either
    assert len(vad.regions(det.probabilities([speech]), len(speech))) <= 1


def test_a_stream_is_read_lazily():
    """Blocks are let go as they are consumed: a long recording is never held whole."""
    import weakref

    alive: list[weakref.ref] = []
    most = 0

    def blocks():
        nonlocal most
        rng = np.random.default_rng(0)
        for _ in range(40):
            block = (0.01 * rng.standard_normal(16000 * 5)).astype(np.float32)
            alive.append(weakref.ref(block))
            most = max(most, sum(r() is not None for r in alive))
            yield block

    probs = vad.SpeechDetector().probabilities(blocks())
    assert len(probs) == -(-40 * 5 * 16000 // vad.FRAME) and most <= 3


@pytest.mark.slow
def test_a_clip_trimmed_to_its_speech_keeps_all_of_it_whatever_the_room(ravdess_manifest):
    """trim_speech cuts a clip from its first detected speech to its last: the silence of a
    studio and the noise floor of a room alike, where an energy threshold cuts only the first."""
    from emovox.audio.frontend import DETECTION_LEVEL_DB, Frontend, normalise_level, trim_to_speech

    row = next(r for r in ravdess_manifest.rows if r.speaker.endswith("03"))
    clip = audio.load(row.path)
    heard = normalise_level(clip, DETECTION_LEVEL_DB)  # the detector hears it at one level
    spoken = vad.regions(vad.SpeechDetector().probabilities([heard]), len(clip))
    cut = trim_to_speech(clip)
    assert len(cut) / 16000 == pytest.approx(spoken[-1][1] - spoken[0][0], abs=1e-3)
    assert len(cut) < len(clip) - 8000  # RAVDESS: about a second of silence around the words
    # the same speech in a noisy room (noise 15 dB under the speech): the detector still cuts
    # it to the words, the energy threshold (30 dB under the loudest frame) keeps the noise
    words = clip[int(spoken[0][0] * 16000) : int(spoken[-1][1] * 16000)]
    noise = np.random.default_rng(0).normal(0, 1, len(clip)).astype(np.float32)
    noisy = clip + noise * np.sqrt(np.mean(words**2)) * 10 ** (-15 / 20)
    assert len(trim_to_speech(noisy)) < len(clip) - 8000
    assert len(audio.trim_silence(noisy, 30.0)) > len(clip) - 1600
    silence = np.zeros(16000, dtype=np.float32)
    assert trim_to_speech(silence) is silence  # nothing detected: left whole
    front = Frontend.from_meta({"trim_speech": True, "level_db": -25.0})
    assert front.trim_speech and front.tag == "+speechcut+lvl-25"
    assert len(front(clip)) == len(cut)
    # where a clip is cut does not depend on its gain (the answer must not either)
    for gain_db in (-20.0, 10.0):
        assert len(trim_to_speech(clip * np.float32(10 ** (gain_db / 20)))) == len(cut)
