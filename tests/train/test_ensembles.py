"""Ensembles and cross-validation: members, votes and calibration, and runs trimmed of
silence that predict from untrimmed waves as they were evaluated."""

import json

import numpy as np
import pytest
import torch

from emovox.audio.frontend import Frontend
from emovox.data.corpora import Manifest
from emovox.evaluation import evaluate
from emovox.store import checkpoint, runs
from emovox.train import experiments

from ..configs import TINY_MODEL, _cfg, _tiny_encoder_cfg  # noqa: F401

pytestmark = pytest.mark.slow  # the file's tier (tests/README.md)


def test_ensemble_cv_reports_members_votes_and_calibration(subset, tmp_path):
    """--ensemble 2 through cv: members differ by seed on one split, both votes and the
    calibration are reported per fold and summarised; export gives a model folder whose
    predictions from waveforms (no cache) reproduce the evaluated soft vote."""
    cfg = _tiny_encoder_cfg(
        subset,
        tmp_path,
        epochs=3,
        ensemble=2,
        labels=7,
        model_config={},
    )
    summary = experiments.cv(cfg, tmp_path / "cv", folds=[1])
    fold = tmp_path / "cv" / "fold1"
    m = json.loads((fold / "metrics.json").read_text())
    ens = m["ensemble"]
    assert len(ens["members"]) == 2 and ens["n_members"] == 2
    assert m["accuracy"] == ens["soft"]["accuracy"]
    assert 0.0 <= ens["ece_after"] <= 1.0 and ens["temperature"] > 0
    s0 = json.loads((fold / "member0" / "split.json").read_text())
    s1 = json.loads((fold / "member1" / "split.json").read_text())
    assert s0 == s1  # one split, so the votes compare like with like
    w0, _ = checkpoint.load(fold / "member0" / "checkpoints" / "model")
    w1, _ = checkpoint.load(fold / "member1" / "checkpoints" / "model")
    assert any(not torch.equal(w0[k], w1[k]) for k in w0 if k.startswith("model."))
    assert "soft vote" in (fold / "report.txt").read_text()
    se = summary["ensemble"]
    assert len(se["members"]) == 2 and se["soft"]["n_folds"] == 1
    assert se["soft"]["accuracy_mean"] == m["accuracy"]

    # a killed ensemble run resumes: finished members are kept, the others continue
    from emovox import cli

    (fold / "member1" / "metrics.json").unlink()
    (fold / "metrics.json").unlink()
    assert cli.main(["train", "--resume", str(fold)]) == 0
    again = json.loads((fold / "metrics.json").read_text())
    assert again["ensemble"]["soft"] == ens["soft"] and again["ensemble"]["hard"] == ens["hard"]
    # the members' last checkpoints vote too, without touching the run's temperature
    spec_before = (fold / "ensemble.json").read_text()
    last = evaluate.evaluate_run(fold, out=tmp_path / "last", checkpoint_name="last")
    assert len(last["ensemble"]["members"]) == 2 and last["n"] == m["n"]
    assert (fold / "ensemble.json").read_text() == spec_before

    from emovox.data.clips import load_clips
    from emovox.infer import torch_engine

    model_dir = runs.export(fold, tmp_path / "model")
    assert not list(model_dir.glob("*.tmp"))
    spec = json.loads((model_dir / "model.json").read_text())
    assert spec["temperature"] == json.loads((fold / "ensemble.json").read_text())["temperature"]
    pred = torch_engine.load(model_dir)
    test = set(s0["test"])
    rows = [r for r in Manifest.read_tsv(fold / "member0" / "manifest.tsv").rows if r.path in test]
    clips = load_clips(rows)
    probs = pred.predict_waves(clips.waves)
    y = np.array([pred.labels.index(r.emotion) for r in clips.rows])
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert float((probs.argmax(1) == y).mean()) == pytest.approx(m["accuracy"])


def test_trimmed_runs_predict_from_untrimmed_waves_as_evaluated(subset, tmp_path):
    """trim_db cuts silence before the encoder in training, evaluation and both predictors:
    the exported model's probabilities on the raw test clips equal the evaluation's."""
    from emovox.data.clips import load_clips
    from emovox.infer import numpy_engine, torch_engine
    from emovox.infer.engine import Engine
    from emovox.models.loading import load_checkpoint

    cfg = _tiny_encoder_cfg(
        subset,
        tmp_path,
        epochs=2,
        ensemble=2,
        model_config={},
        trim_db=30,
        level_db=0.0,  # trimming alone (the kind's default also levels)
    )
    m = experiments.run(cfg, tmp_path / "trim")
    _, meta = checkpoint.load(tmp_path / "trim" / "member0" / "checkpoints" / "model")
    assert meta["trim_db"] == 30
    split = json.loads((tmp_path / "trim" / "member0" / "split.json").read_text())
    rows = [r for r in Manifest.read_tsv(subset).rows if r.path in set(split["test"])]
    clips = load_clips(rows)
    cut = clips.through(Frontend(30))
    assert sum(len(w) for w in cut.waves) < 0.8 * sum(len(w) for w in clips.waves)
    assert cut.keys != clips.keys and cut.through(Frontend(30)) is cut
    with pytest.raises(ValueError, match="already through"):
        cut.through(Frontend(40))
    member = load_checkpoint(tmp_path / "trim" / "member0" / "checkpoints" / "model")
    evaluated = evaluate.probabilities(
        member, clips, runs.RunFolder(tmp_path / "trim" / "member0").cache(), torch.device("cpu")
    )
    model_dir = runs.export(tmp_path / "trim", tmp_path / "model")
    pred = torch_engine.load(model_dir)
    probs = pred.predict_waves(clips.waves)
    y = np.array([pred.labels.index(r.emotion) for r in clips.rows])
    assert float((probs.argmax(1) == y).mean()) == pytest.approx(m["accuracy"])
    # member 0 alone, temperature 1: the evaluation's
    one = Engine(torch_engine.TorchBackend([pred.backend.members[0]]))
    assert np.abs(one.predict_waves(clips.waves) - evaluated).max() < 1e-5
    one.backend.frontend = Frontend()  # the same model fed the untrimmed waves answers otherwise
    assert np.abs(one.predict_waves(clips.waves) - evaluated).max() > 1e-3
    fast = numpy_engine.load(model_dir)
    assert fast is not None and fast.backend.frontend == Frontend(30)
    assert np.abs(fast.predict_waves(clips.waves) - probs).max() < 1e-4
