"""The training loop on a small real RAVDESS subset: the run folder and its reports, one
seed one set of numbers, resume, DDP, corpora with different label sets, the level front end."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from emovox.audio.frontend import Frontend
from emovox.data.corpora import Manifest
from emovox.evaluation import evaluate
from emovox.store import checkpoint, runs
from emovox.train import experiments
from emovox.train.loop import train

from ..configs import TINY_MODEL, _cfg, _tiny_encoder_cfg, train_killed_after_epoch_1  # noqa: F401

pytestmark = pytest.mark.slow  # the file's tier (tests/README.md)


def test_run_folder_and_reports(subset, tmp_path):
    m = train(_cfg(subset, tmp_path), tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for f in (
        "config.json",
        "manifest.tsv",
        "split.json",
        "log.csv",
        "metrics.json",
        "report.txt",
        "confusion.png",
        "checkpoints/model.safetensors",
        "checkpoints/model.json",
        "checkpoints/last.safetensors",
    ):
        assert (run / f).exists(), f
    saved = json.loads((run / "metrics.json").read_text())
    for key in ("accuracy", "uar", "macro_f1", "per_class", "confusion", "train_seconds"):
        assert key in saved
    assert saved["n"] == sum(map(sum, saved["confusion"])) == m["n"] > 0
    kept = json.loads((run / "checkpoints/model.json").read_text())
    assert kept["sample_rate"] == 16000  # the model says what audio it needs
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["seed"] == 3 and len(cfg["manifest_sha256"]) == 64
    assert "torch" in cfg["versions"]
    assert "precision" in (run / "report.txt").read_text()
    assert len((run / "log.csv").read_text().strip().splitlines()) == 1 + 3
    # checkpoints are safetensors + JSON, loadable without pickle
    tensors, meta = checkpoint.load(run / "checkpoints" / "model")
    assert meta["labels"][1] == "calm" and "feature_mean" in tensors
    # re-evaluation from the checkpoint reproduces the test metrics
    again = evaluate.evaluate_run(run, out=tmp_path / "eval")
    assert again["accuracy"] == m["accuracy"] and again["confusion"] == m["confusion"]
    # the last epoch's checkpoint on request, reported in a folder of its own: zeroed weights
    # there predict the first class for every clip, so its figures come from that file
    tensors, meta = checkpoint.load(run / "checkpoints" / "last")
    zeroed = {k: torch.zeros_like(v) if k.startswith("model.") else v for k, v in tensors.items()}
    checkpoint.save(run / "checkpoints" / "last", zeroed, meta)
    from emovox import cli

    assert cli.main(["evaluate", str(run), "--checkpoint", "last"]) == 0
    last = json.loads((run / "last-checkpoint" / "metrics.json").read_text())
    assert [sum(col) for col in zip(*last["confusion"], strict=True)][0] == last["n"] == m["n"]
    assert json.loads((run / "metrics.json").read_text())["confusion"] == m["confusion"]
    # a run folder from before 0.3 calls the kept model "best": it is read under either name
    for suffix in (".safetensors", ".json"):
        (run / "checkpoints" / f"model{suffix}").rename(run / "checkpoints" / f"best{suffix}")
    assert runs.RunFolder(run).checkpoint("model").name == "best"
    assert runs.find_model(run).stems[0].name == "best"
    assert (
        cli.main(["evaluate", str(run), "--checkpoint", "best", "--out", str(tmp_path / "o")]) == 0
    )
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["confusion"] == m["confusion"]


def test_same_seed_same_numbers_and_resume_matches(subset, tmp_path):
    full = train(_cfg(subset, tmp_path, epochs=4), tmp_path / "full", progress=False)
    again = train(_cfg(subset, tmp_path, epochs=4), tmp_path / "again", progress=False)
    assert full["confusion"] == again["confusion"]

    killed = tmp_path / "killed"
    cfg = _cfg(subset, tmp_path, epochs=4)
    train_killed_after_epoch_1(cfg, killed)
    assert json.loads((killed / "checkpoints" / "last.json").read_text())["epoch"] == 1
    assert not (killed / "metrics.json").exists()
    resumed = train(cfg, killed, resume=True, progress=False)
    assert resumed["confusion"] == full["confusion"]
    assert resumed["accuracy"] == full["accuracy"]
    a, _ = checkpoint.load(tmp_path / "full" / "checkpoints" / "last")
    b, _ = checkpoint.load(killed / "checkpoints" / "last")
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model."))


def test_ddp_two_processes_disjoint_data_identical_weights(subset, tmp_path):
    run = tmp_path / "ddp"
    cfg = _cfg(subset, tmp_path, epochs=2)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg.to_dict()))
    script = (
        "import json,sys; from emovox.train import config; from emovox.train.loop import train; "
        "c=config.TrainConfig.from_dict(json.load(open(sys.argv[1]))); "
        "train(c, sys.argv[2], progress=False)"
    )
    (tmp_path / "run_ddp.py").write_text(script)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--master_port=29533",
            str(tmp_path / "run_ddp.py"),
            str(tmp_path / "cfg.json"),
            str(run),
        ],
        check=True,
        env=env,
        timeout=600,
    )
    r0 = json.loads((run / "rank0.json").read_text())
    r1 = json.loads((run / "rank1.json").read_text())
    assert r0["seen"] and r1["seen"]
    for epoch in range(2):  # within each epoch the ranks' samples are disjoint
        n = len(r0["seen"]) // 2
        e0 = set(r0["seen"][epoch * n : (epoch + 1) * n])
        e1 = set(r1["seen"][epoch * n : (epoch + 1) * n])
        assert not e0 & e1
    assert r0["weights_sha256"] == r1["weights_sha256"]
    assert (run / "metrics.json").exists()


def test_cross_corpus_models_answer_in_the_labels_both_corpora_have(subset, tmp_path):
    """RAVDESS (8 emotions) -> ASED (5): the targets, the model's outputs and its metadata
    all use the 5 shared labels, in one order."""
    from emovox.data.corpora import read_corpus

    from ..conftest import RAVDESS

    ased_root = RAVDESS.parent / "ased"
    if not ased_root.is_dir():
        pytest.skip("ASED not found")
    ased = tmp_path / "ased.tsv"
    Manifest(read_corpus(ased_root).rows[::60], []).write_tsv(ased)
    cfg = _cfg(
        subset,
        tmp_path,
        data=[str(subset), str(ased)],
        protocol="cross-corpus",
        test_corpus="ased",
        epochs=1,
    )
    m = train(cfg, tmp_path / "x", progress=False)
    _, meta = checkpoint.load(tmp_path / "x" / "checkpoints" / "model")
    shared = ["angry", "fear", "happy", "neutral", "sad"]
    assert meta["labels"] == m["labels"] == shared
    assert meta["model_config"]["n_classes"] == 5 and len(m["confusion"]) == 5
    assert m["n"] == sum(map(sum, m["confusion"])) > 0


def test_level_front_end_makes_predictions_independent_of_input_gain(subset, tmp_path):
    """Trained and predicting on levelled clips, the model answers the same at any gain (both
    predictors); the same weights fed the raw clips do not."""
    from emovox.data.clips import load_clips
    from emovox.infer import numpy_engine, torch_engine

    cfg = _tiny_encoder_cfg(subset, tmp_path, epochs=2, level_db=-25.0)
    experiments.run(cfg, tmp_path / "level")
    assert checkpoint.load(tmp_path / "level" / "checkpoints" / "model")[1]["level_db"] == -25
    model_dir = runs.export(tmp_path / "level", tmp_path / "model")
    rows = Manifest.read_tsv(subset).rows[:12]
    waves = load_clips(rows).waves
    pred, fast = torch_engine.load(model_dir), numpy_engine.load(model_dir)
    ref = pred.predict_waves(waves)
    for gain_db in (-20.0, 10.0):  # quieter, and louder than full scale (float input)
        scaled = [w * np.float32(10 ** (gain_db / 20)) for w in waves]
        assert np.abs(pred.predict_waves(scaled) - ref).max() < 1e-4
        assert np.abs(fast.predict_waves(scaled) - ref).max() < 1e-4
    pred.backend.frontend = Frontend()  # the raw level reaches the encoder: the answer moves
    quiet = [w * np.float32(0.1) for w in waves]
    assert np.abs(pred.predict_waves(quiet) - pred.predict_waves(waves)).max() > 1e-2
