"""Speaker turns: windows grouped by voice, each voice adapted alone, segments naming the
speaker; and the references a voice is adapted to, when one emotion dominates."""

from __future__ import annotations

import re

import numpy as np
import pytest

import emovox
from emovox.data import demo
from emovox.infer import adapt, speakers
from emovox.infer.analyzer import AnalysisConfig

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)


def _voices(sizes, dims=64, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Features of turns by voices far apart, in time order, and who spoke each window."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (len(set(sizes)), dims))
    who = np.concatenate([np.full(n, v) for v, n in sizes])
    return centres[who] + rng.normal(0, 1, (len(who), dims)), who


def test_turns_are_found_with_the_count_fixed_or_estimated():
    from sklearn.metrics import adjusted_rand_score

    x, who = _voices([(0, 8), (1, 6), (0, 5), (1, 9), (0, 4)])
    for count in (2, 0):
        got = speakers.cluster(x, count)
        assert adjusted_rand_score(who, got) == 1.0 and got[0] == 0  # S1 speaks first
    one, _ = _voices([(0, 30)])
    assert set(speakers.cluster(one, 0)) == {0}  # one voice is not split
    with pytest.raises(speakers.TooManySpeakers, match="--speakers 4.*enough for at most 3"):
        speakers.cluster(x, 4)


def test_references_shrink_toward_training_and_balance_emotions():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 0.1, (14, 3)) + 2.0, rng.normal(0, 0.1, (6, 3)) - 2.0
    x, train = np.vstack([a, b]).astype(np.float32), np.zeros(3, np.float32)
    mu = x.mean(0)
    (mean,) = adapt.to_recording([x], [train], [False], "mean")
    assert np.allclose(mean.mean(0), train, atol=1e-5)  # the mean moved onto training's
    (shrunk,) = adapt.to_recording([x], [train], [False], "shrink")
    prior = adapt.SHRINK_PRIOR
    assert np.allclose(shrunk.mean(0), mu * prior / (len(x) + prior), atol=1e-5)

    def classify(z):  # which of the two emotions each row is (the model's answer)
        return np.eye(2)[(z[0][:, 0] < z[0][:, 0].mean()).astype(int)]

    (balanced,) = adapt.to_recording([x], [train], [False], "balanced", classify)
    reference = (a.mean(0) + b.mean(0)) / 2  # each emotion weighs the same, not 14 to 6
    assert np.allclose(x - balanced, reference, atol=1e-4)
    with pytest.raises(ValueError, match="reference must be one of"):
        adapt.to_recording([x], [train], [False], "trimmed")


@pytest.fixture(scope="module")
def conversation(ravdess_manifest):
    """Turns of a man (actor 01) and a woman (actor 02), 14 clips each, as a recording."""
    by = {s: [r for r in ravdess_manifest.rows if r.speaker[-2:] == s][:56:4] for s in ("01", "02")}
    rows, k = [], 0
    for n in (3, 2, 4, 1, 3, 3, 2, 2, 4, 4):
        who = by["01" if k % 2 == 0 else "02"]
        rows += [who.pop(0) for _ in range(min(n, len(who)))]
        k += 1
    return demo.build(rows, seed=3, shuffle=False)


@pytest.mark.slow
def test_a_conversation_is_split_by_voice_and_each_voice_adapted(conversation):
    rec = conversation
    seconds = len(rec.wave) / 16000
    model = emovox.load_model(config=AnalysisConfig(speakers=2, threshold=0.0))
    split = model.predict(rec.wave, sr=16000)
    assert {s.speaker for s in split.segments} == {"S1", "S2"}
    assert split.adapted.startswith("each speaker's own windows: S1 ")
    assert demo.speaker_error(split, rec, seconds)["confused"] < 0.2
    one = emovox.load_model(config=AnalysisConfig(threshold=0.0)).predict(rec.wave, sr=16000)
    assert {s.speaker for s in one.segments} == {None}
    assert demo.speaker_error(one, rec, seconds)["confused"] > 0.3  # one voice: half wrong
    assert split.to_dict()["segments"][0]["speaker"] == "S1"
    # more speakers than the speech can carry: an answer naming the option, not a crash
    many = emovox.load_model(config=AnalysisConfig(speakers=5)).predict(rec.wave, sr=16000)
    assert many.error and "--speakers 5" in many.error


@pytest.mark.slow
def test_a_voice_with_too_few_windows_is_read_plain_the_other_adapted(ravdess_manifest):
    by = {s: [r for r in ravdess_manifest.rows if r.speaker[-2:] == s][::3] for s in ("01", "02")}
    man, woman = by["01"][:16], by["02"][:6]  # 22 windows: enough for two voices, not for each
    rec = demo.build(man[:8] + woman[:3] + man[8:] + woman[3:], seed=3, shuffle=False)
    cfg = {"speakers": 2, "threshold": 0.0}
    split = emovox.load_model(config=AnalysisConfig(**cfg)).predict(rec.wave, sr=16000)
    plain = emovox.load_model(config=AnalysisConfig(adapt="none", **cfg)).predict(
        rec.wave, sr=16000
    )
    voices = re.findall(r"(S\d) (\d+) windows \([\d.]+ s(; too few, read plain)?\)", split.adapted)
    short = [name for name, n, few in voices if few]
    assert len(short) == 1 and len(voices) == 2, split.adapted
    who = short[0]
    mine = [s.probabilities for s in split.segments if s.speaker == who]
    assert mine and mine == [s.probabilities for s in plain.segments if s.speaker == who]
    others = [s.probabilities for s in split.segments if s.speaker != who]
    assert others != [s.probabilities for s in plain.segments if s.speaker != who]


@pytest.mark.slow
def test_a_recording_too_short_to_adapt_says_so(ravdess_manifest):
    rows = [r for r in ravdess_manifest.rows if r.speaker.endswith("07")][:4]
    rec = demo.build(rows, seed=0)
    model = emovox.load_model()
    got = model.predict(rec.wave, sr=16000)
    # a clip (30 s or less) read alone: said in `adapted`, not warned
    # (tests/integration/test_extremes.py has the recording that is warned)
    assert got.error is None and got.warnings == []
    assert got.adapted.startswith("not adapted: ") and "needs 10" in got.adapted
    plain = emovox.load_model(config=AnalysisConfig(adapt="none")).predict(rec.wave, sr=16000)
    assert plain.adapted is None and plain.warnings == []  # nothing asked, nothing said


def test_a_standardising_member_is_standardised_by_its_own_windows_under_any_reference():
    rng = np.random.default_rng(2)
    x = (rng.normal(3.0, 2.0, (20, 4))).astype(np.float32)
    for how in ("mean", "shrink"):
        (z,) = adapt.to_recording([x], [np.zeros(4, np.float32)], [True], how)
        assert np.allclose(z.mean(0), 0, atol=1e-5) and np.allclose(z.std(0), 1, atol=1e-4)


def test_a_windows_voice_is_read_from_the_window_alone_not_its_context():
    """The voice a window is clustered by comes from its own samples: its context on either
    side crosses turn changes (benchmarks/loud_turns.py). Checked on a ramp, where a sample's
    value is its index: at the recording's start and end (context cut short), in the middle,
    and for a window shorter than the least length (grown around its centre)."""
    from emovox.infer import scoring, timeline

    n, min_len, context = 160_000, 8000, 16000
    ramp = np.arange(n, dtype=np.float32)
    spans = [(0.0, 4.0), (4.5, 8.5), (6.0, 6.2), (6.0, 10.0)]
    for k, cut in timeline.cut([ramp], spans, n, min_len, context):
        a, b = timeline.window_bounds(*spans[k], n, min_len, 0)
        bare = scoring.without_context(cut, spans[k], n, min_len, context)
        assert np.array_equal(bare, ramp[a:b]), spans[k]
        assert len(cut) > len(bare)  # the context really was there
