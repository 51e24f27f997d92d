"""A model with two kinds of head (``emovox export --recording-head``): plain heads answer
clips read alone, and speech adapted to its voice is answered by the plain heads and the
speaker-normalised head together; both engines agree; the export refuses what does not fit."""

import json

import numpy as np
import pytest

from emovox import load_model
from emovox.cli.commands import main
from emovox.data import demo
from emovox.data.clips import load_clips
from emovox.data.corpora import Manifest
from emovox.infer import numpy_engine, torch_engine
from emovox.store import runs
from emovox.train import experiments

from ..configs import _tiny_encoder_cfg

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two(subset, tmp_path_factory):
    """(plain model, two-head model, the speaker-normalised run), tiny Whisper models."""
    tmp = tmp_path_factory.mktemp("two")
    common = dict(epochs=4, level_db=-25.0, model_config={"dimensions": 0.5})
    experiments.run(_tiny_encoder_cfg(subset, tmp, ensemble=2, **common), tmp / "plain")
    experiments.run(_tiny_encoder_cfg(subset, tmp, speaker_norm=4, **common), tmp / "sn")
    plain = runs.export(tmp / "plain", tmp / "plain-model")
    assert main(["export", str(tmp / "plain"), "--out", str(tmp / "both"),
                 "--recording-head", str(tmp / "sn")]) == 0  # fmt: skip
    return plain, tmp / "both", tmp / "sn"


def test_export_ships_the_recording_head_and_refuses_what_does_not_fit(two, tmp_path):
    plain, both, sn = two
    spec = json.loads((both / "model.json").read_text())
    assert spec["members"] == ["member0", "member1", "member2"]
    assert spec["recording_head"]["members"] == ["member2"]
    assert spec["recording_head"]["train"]["speaker_norm"] == 4
    assert torch_engine.load(both).speaker_normalised() == [False, False, True]
    with pytest.raises(ValueError, match="not speaker-normalised"):
        runs.export(plain.parent / "plain", tmp_path / "x", recording_head=plain.parent / "plain")
    with pytest.raises(ValueError, match="already speaker-normalised"):
        runs.export(sn, tmp_path / "y", recording_head=sn)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_a_clip_read_alone_is_answered_by_the_plain_heads(two, subset):
    plain, both, _ = two
    row = Manifest.read_tsv(subset).rows[5]
    want = load_model(plain).predict(row.path)
    for engine in (load_model(both), load_model(both, engine="torch")):
        got = engine.predict(row.path)
        assert got.error is None and got.adapted is None
        assert got.probabilities == pytest.approx(want.probabilities, abs=2e-4)
    assert numpy_engine.load(both) is not None  # the torch-free engine runs it too


def test_speech_adapted_to_its_voice_is_answered_by_both_kinds(two, subset):
    plain, both, _ = two
    rows = [r for r in Manifest.read_tsv(subset).rows if r.speaker.endswith("05")]
    rec = demo.build(rows[:14], seed=1)
    two_heads = load_model(both).predict(rec.wave, sr=16000)
    plain_only = load_model(plain).predict(rec.wave, sr=16000)
    assert plain_only.adapted.endswith("; heads: plain")
    assert two_heads.adapted.startswith("the recording itself: ")
    assert two_heads.adapted.endswith(" s of speech; heads: plain + speaker-normalised")
    seconds = float(two_heads.adapted.split(", ")[1].split(" s")[0])
    speech = sum(s.end - s.start for s in two_heads.segments)
    assert 0.5 * speech < seconds <= rec.wave.size / 16000
    # the normalised head votes: the answer moves away from the plain heads' alone
    moved = max(abs(two_heads.probabilities[k] - plain_only.probabilities[k])
                for k in two_heads.probabilities)  # fmt: skip
    assert moved > 1e-3
    # both engines weigh the two kinds alike on adapted statistics
    pred, fast = torch_engine.load(both), numpy_engine.load(both)
    waves = load_clips(rows[:12]).waves
    x = pred.member_inputs(waves)
    norm = pred.speaker_normalised()
    x = [(v - v.mean(0)) / v.std(0) if n else v for v, n in zip(x, norm, strict=True)]
    a, b = pred.classify(x, True)[0], fast.classify(x, True)[0]
    assert np.abs(a - b).max() < 1e-4
    assert np.abs(a - pred.classify(x)[0]).max() > 1e-3  # adapted, the third head votes
