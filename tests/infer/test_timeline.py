"""Long recordings: windows, curve, segments and summary, then a timeline scored against a
recording whose truth is known (RAVDESS clips joined with pauses and noise bursts)."""

import json

import numpy as np
import pytest
import soundfile as sf

import emovox
from emovox.data import demo, labels
from emovox.data.labels import label_set
from emovox.infer import adapt, timeline
from emovox.infer.analyzer import AnalysisConfig
from emovox.infer.timeline import TimelineConfig

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)

LABELS = label_set(7)


def test_windows_cover_long_regions_and_keep_short_ones_whole():
    cfg = TimelineConfig(window=4.0, hop=2.0)
    assert timeline.windows([(1.0, 3.0)], cfg) == [(1.0, 3.0)]
    spans = timeline.windows([(0.0, 9.0)], cfg)
    assert spans[0] == (0.0, 4.0) and spans[-1] == (5.0, 9.0)
    assert all(b - a == 4.0 for a, b in spans) and len(spans) == 4


def test_curve_segments_and_summary():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.55, 0.45]])
    spans = [(0.0, 2.0), (2.0, 4.0), (6.0, 6.2)]
    cfg = TimelineConfig(step=0.1, min_segment=0.5)
    times, grid, covered = timeline.curve(spans, probs, 8.0, 0.1)
    assert covered[:40].all() and not covered[45:60].any()
    segs = timeline.segments(times, grid, covered, ("a", "b"), 0.6, cfg)
    assert [(s.start, s.end, s.emotion) for s in segs] == [
        (0.0, 2.0, "a"),
        (2.0, 4.0, "b"),
        (6.0, 6.2, None),
    ]
    summ = timeline.summary(segs, ("a", "b"), 8.0)
    assert summ["speech_duration"] == pytest.approx(4.2) and summ["dominant_emotion"] in ("a", "b")
    assert sum(summ["share"].values()) == pytest.approx(1.0, abs=1e-3)
    # a run shorter than min_segment merges into the neighbour it resembles most
    short = np.array([[0.9, 0.1], [0.45, 0.55], [0.9, 0.1]])
    times, grid, covered = timeline.curve([(0, 2), (2, 2.2), (2.2, 4)], short, 4.0, 0.1)
    segs = timeline.segments(times, grid, covered, ("a", "b"), 0.0, cfg)
    assert [(s.start, s.end, s.emotion) for s in segs] == [(0.0, 4.0, "a")]
    smoothed = timeline.smooth(grid, covered, 1.0, 0.1)
    assert smoothed.shape == grid.shape and np.allclose(smoothed.sum(1)[covered], 1.0)


def test_windows_hold_their_audio_when_pauses_cross_or_meet_block_ends():
    """``cut`` reads blocks as they stream; a window that starts after the block it is handed
    (a pause over the block's end) must not shift where later blocks are placed."""
    sr, block = 16000, 16000
    source = np.arange(20 * sr, dtype=np.float32)  # each sample says where it is
    spans = [(0.2, 0.9), (2.5, 2.9), (3.0, 3.6), (5.4, 6.0), (9.0, 11.5), (16.0, 19.99)]
    blocks = (source[i : i + block] for i in range(0, len(source), block))
    got = dict(timeline.cut(blocks, spans, len(source), min_len=8000, context=1600))
    assert sorted(got) == list(range(len(spans)))
    for k, (a, b) in enumerate(spans):
        lo, hi = timeline.window_bounds(a, b, len(source), 8000, 1600)
        assert np.array_equal(got[k], source[lo:hi]), (k, got[k][:1], lo)


@pytest.fixture(scope="module")
def recording(ravdess_manifest):
    rows = [r for r in ravdess_manifest.rows if r.speaker.endswith("05") and r.emotion in LABELS]
    return demo.build(rows[::2][:22], seed=1)


# every frame labelled (threshold 0): these tests check that the timeline reads the right
# audio, so they score the model's labels, not how often its calibrated gate says "unsure"
EVERY_FRAME = AnalysisConfig(threshold=0.0)


@pytest.fixture(scope="module")
def model():
    return emovox.load_model(config=EVERY_FRAME)


@pytest.mark.slow
def test_a_known_recording_is_read_back(recording, model, tmp_path):
    """~70 s of one actor's clips (the bundled model has heard this actor: the emotion figure
    checks the plumbing, not generalisation; docs/analysis.md has the held-out figures)."""
    duration = len(recording.wave) / 16000
    assert 60 < duration < 90
    path = tmp_path / "talk.flac"
    sf.write(path, recording.wave, 16000)
    result = model.predict(path, plot=tmp_path / "talk.png")
    s = demo.score(result, recording.truth, duration)
    assert s["speech_accuracy"] > 0.8 and s["boundary_error"] < 0.5, s
    assert s["frame_accuracy"] > 0.7, s  # 0.80 measured; whole clips: 1.0 (heard in training)
    truth_speech = sum(b - a for a, b, _ in recording.truth)
    assert truth_speech < result.summary["speech_duration"] < 1.3 * truth_speech  # VAD pads
    starts = [seg.start for seg in result.segments]
    assert starts == sorted(starts) and result.segments[-1].end <= duration + 1e-6
    d = result.to_dict()
    assert {
        "path",
        "emotion",
        "confidence",
        "probabilities",
        "speech",
        "segments",
        "summary",
    } <= set(d)
    json.dumps(d)
    import matplotlib.image

    image = matplotlib.image.imread(tmp_path / "talk.png")
    assert image.shape[0] > 400 and image.shape[1] > 1000
    assert image[..., :3].std() > 0.05  # something is drawn


@pytest.mark.slow
def test_a_clip_gives_what_predict_waves_gives(ravdess_manifest, model):
    row = ravdess_manifest.rows[100]
    wave = emovox.load(row.path)
    result = model.predict(row.path)
    assert len(result.segments) == 1 and result.speech is True  # one segment: the speech
    assert result.segments[0].emotion == result.emotion
    expected = model.predict_waves([wave])[0]
    got = np.array([result.probabilities[k] for k in model.labels])
    assert np.abs(got - expected).max() < 1e-4


@pytest.mark.slow
def test_waves_need_their_rate_and_are_resampled(ravdess_manifest, model):
    import soxr

    wave = emovox.load(ravdess_manifest.rows[7].path)
    with pytest.raises(ValueError, match="sample rate"):
        model.predict(wave)
    at_44k = soxr.resample(wave, 16000, 44100)
    a, b = model.predict([wave, at_44k], sr=16000)[0], model.predict(at_44k, sr=44100)
    assert a.emotion == b.emotion and abs(a.confidence - b.confidence) < 0.05
    noise = (0.05 * np.random.default_rng(0).standard_normal(16000 * 8)).astype(np.float32)
    quiet = model.predict(noise, sr=16000)
    assert quiet.emotion is None and quiet.speech is False and quiet.reason == "no_speech"


@pytest.mark.slow
def test_ten_minutes_stream_through_without_holding_the_recording(
    ravdess_manifest, model, tmp_path
):
    """A 10-minute file is analysed in blocks: the analysis never sees more than a block and
    the windows it still needs."""
    rows = [r for r in ravdess_manifest.rows if r.emotion in LABELS][::4]
    rec = demo.build(rows[:200], seed=2, pause=(0.5, 1.5))
    wave = np.tile(rec.wave, int(np.ceil(600 * 16000 / len(rec.wave))))[: 600 * 16000]
    path = tmp_path / "long.flac"
    sf.write(path, wave, 16000)
    del wave
    biggest = []
    real_cut = timeline.cut

    def watched(blocks, *a, **k):
        def sized(bs):
            for b in bs:
                biggest.append(len(b))
                yield b

        yield from real_cut(sized(blocks), *a, **k)

    timeline.cut = watched
    try:
        result = model.predict(path)
    finally:
        timeline.cut = real_cut
    assert result.error is None and result.duration == pytest.approx(600.0, abs=0.01)
    assert len(result.segments) > 100 and max(biggest) <= 60 * 16000 + 16000


@pytest.mark.slow
def test_adaptation_moves_the_recordings_statistics_onto_the_training_mean(recording, model):
    from emovox.infer.analyzer import Analyzer

    plain = Analyzer(model.engine, AnalysisConfig(adapt="none"))
    adapted = Analyzer(model.engine, AnalysisConfig(adapt="recording"))
    windows = [recording.wave[int(a * 16000) : int(b * 16000)] for a, b, _ in recording.truth]
    inputs = model.engine.member_inputs(windows[:12])
    moved = adapted.steps.adapt(inputs)
    # the recording's mean moves onto the training mean, bar the prior's share ("shrink");
    # the speaker-normalised head's statistics are standardised with the recording's own
    keep = adapt.SHRINK_PRIOR / (len(windows[:12]) + adapt.SHRINK_PRIOR)
    p = model.engine
    for x, raw, mean, norm in zip(moved, inputs, p.training_means(), p.speaker_normalised(),
                                  strict=True):  # fmt: skip
        if norm:
            assert np.allclose(x.mean(0), 0, atol=1e-4) and np.allclose(x.std(0), 1, atol=1e-2)
        else:
            assert np.allclose(x.mean(0), mean + keep * (raw.mean(0) - mean), atol=1e-3)
    assert set(p.speaker_normalised()) == {False, True}  # the bundled model has both kinds
    assert adapted.steps.adapts(12) and not adapted.steps.adapts(9)
    assert not plain.steps.adapts(12)
    a, b = plain.predict(recording.wave, sr=16000), adapted.predict(recording.wave, sr=16000)
    assert [s.start for s in a.segments][:3] == [s.start for s in b.segments][:3]
    assert a.segments[0].probabilities != b.segments[0].probabilities


@pytest.mark.slow
def test_an_hour_reads_the_audio_its_timestamps_name(ravdess_manifest, tmp_path, monkeypatch):
    """An hour of the same 10 minutes six times, every 60 s block boundary in a pause: each
    window holds exactly the source samples its timestamps name, and each 10-minute stretch
    is read as well as those 10 minutes alone."""
    model = emovox.load_model(config=EVERY_FRAME, engine="torch")  # as long recordings get
    rows = [r for r in ravdess_manifest.rows if r.emotion in LABELS][::8]
    ten = demo.build_long(rows, 600, seed=4)
    sf.write(tmp_path / "ten.flac", ten.wave, 16000)
    sf.write(tmp_path / "hour.flac", np.tile(ten.wave, 6), 16000)
    truth = [(a + 600 * k, b + 600 * k, e) for k in range(6) for a, b, e in ten.truth]
    source = sf.read(tmp_path / "hour.flac", dtype="float32")[0]
    real_cut, wrong, seen = timeline.cut, [], []

    def checked(blocks, spans, n, min_len, context=0):
        for k, samples in real_cut(blocks, spans, n, min_len, context):
            a, b = timeline.window_bounds(*spans[k], n, min_len, context)
            seen.append(k)
            if not np.array_equal(samples, source[a:b]):
                wrong.append(spans[k])
            yield k, samples

    monkeypatch.setattr(timeline, "cut", checked)
    hour = model.predict(tmp_path / "hour.flac")
    assert len(seen) > 600 and not wrong, f"{len(wrong)} of {len(seen)} windows: {wrong[:3]}"
    monkeypatch.setattr(timeline, "cut", real_cut)
    alone = demo.score_stretches(model.predict(tmp_path / "ten.flac").segments, ten.truth, 600)
    stretches = demo.score_stretches(hour.segments, truth, 3600)
    assert len(stretches) == 6 and alone[0] > 0.5
    assert all(abs(s - alone[0]) <= 0.05 for s in stretches), (stretches, alone)


def test_arousal_and_valence_are_where_the_probabilities_sit():
    """One documented mapping (data.labels): a sure angry answer is high arousal, negative
    valence; sad is low and negative; an even split of happy and sad sits at the middle of
    arousal; the segments of a curve carry their own."""
    from emovox.data.labels import AROUSAL, VALENCE, dimensions

    assert dimensions({"angry": 1.0, "sad": 0.0}) == {"arousal": 1.0, "valence": -1.0}
    assert dimensions({"sad": 1.0}) == {"arousal": -1.0, "valence": -1.0}
    assert dimensions({"happy": 0.5, "sad": 0.5}) == {"arousal": 0.0, "valence": 0.0}
    assert set(AROUSAL) == set(VALENCE) == set(labels.VOCABULARY)
    cfg = timeline.TimelineConfig()
    times = np.arange(0, 10, cfg.step) + cfg.step / 2
    grid = np.zeros((len(times), 2), np.float32)
    grid[: len(times) // 2, 0] = 1.0  # angry, then sad
    grid[len(times) // 2 :, 1] = 1.0
    segs = timeline.segments(times, grid, np.ones(len(times), bool), ("angry", "sad"), 0.3, cfg)
    assert [(s.emotion, s.arousal, s.valence) for s in segs] == [
        ("angry", 1.0, -1.0),
        ("sad", -1.0, -1.0),
    ]
