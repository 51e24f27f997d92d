"""The training engine on a small real RAVDESS subset: resume, determinism, reports, DDP."""

import builtins
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from emovox import checkpoint, train
from emovox.corpora import Manifest

TINY_MODEL = {"channels": [8, 8, 16], "lstm_hidden": 16, "head_hidden": 16}


@pytest.fixture(scope="module")
def subset(ravdess_manifest, tmp_path_factory):
    """Actors 1-6, two clips of each emotion each: 96 clips, 3 speaker-disjoint sides."""
    keep, seen = [], {}
    for r in ravdess_manifest.rows:
        if int(r.speaker[-2:]) <= 6:
            k = (r.speaker, r.emotion)
            if seen.get(k, 0) < 2:
                seen[k] = seen.get(k, 0) + 1
                keep.append(r)
    path = tmp_path_factory.mktemp("data") / "subset.tsv"
    Manifest(keep, []).write_tsv(path)
    return path


def _cfg(subset, tmp_path, **kw):
    base = dict(data=[str(subset)], labels=8, protocol="speaker", fold=1, epochs=3,
                batch_size=8, model_config=TINY_MODEL, cache_dir=str(tmp_path / "cache"),
                patience=10, seed=3)
    return train.TrainConfig.from_dict({**base, **kw})


def test_run_folder_and_reports(subset, tmp_path):
    m = train.train(_cfg(subset, tmp_path), tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for f in ("config.json", "manifest.tsv", "split.json", "log.csv", "metrics.json",
              "report.txt", "confusion.png", "checkpoints/best.safetensors",
              "checkpoints/best.json", "checkpoints/last.safetensors"):
        assert (run / f).exists(), f
    saved = json.loads((run / "metrics.json").read_text())
    for key in ("accuracy", "uar", "macro_f1", "per_class", "confusion", "train_seconds"):
        assert key in saved
    assert saved["n"] == sum(map(sum, saved["confusion"])) == m["n"] > 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["seed"] == 3 and len(cfg["manifest_sha256"]) == 64
    assert "torch" in cfg["versions"]
    assert "precision" in (run / "report.txt").read_text()
    assert len((run / "log.csv").read_text().strip().splitlines()) == 1 + 3
    # checkpoints are safetensors + JSON, loadable without pickle
    tensors, meta = checkpoint.load(run / "checkpoints" / "best")
    assert meta["labels"][1] == "calm" and "feature_mean" in tensors
    # re-evaluation from the checkpoint reproduces the test metrics
    again = train.evaluate_run(run, out=tmp_path / "eval")
    assert again["accuracy"] == m["accuracy"] and again["confusion"] == m["confusion"]


def test_same_seed_same_numbers_and_resume_matches(subset, tmp_path):
    full = train.train(_cfg(subset, tmp_path, epochs=4), tmp_path / "full", progress=False)
    again = train.train(_cfg(subset, tmp_path, epochs=4), tmp_path / "again", progress=False)
    assert full["confusion"] == again["confusion"]

    # a run killed right after epoch 1's checkpoint (the interrupt comes from its progress line)
    killed = tmp_path / "killed"
    cfg = _cfg(subset, tmp_path, epochs=4)
    real_print = builtins.print

    def kill_after_epoch_1(*a, **k):
        real_print(*a, **k)
        if a and str(a[0]).startswith("epoch   1"):
            raise KeyboardInterrupt

    builtins.print = kill_after_epoch_1
    try:
        with pytest.raises(KeyboardInterrupt):
            train.train(cfg, killed, progress=True)
    finally:
        builtins.print = real_print
    assert json.loads((killed / "checkpoints" / "last.json").read_text())["epoch"] == 1
    assert not (killed / "metrics.json").exists()
    resumed = train.train(cfg, killed, resume=True, progress=False)
    assert resumed["confusion"] == full["confusion"]
    assert resumed["accuracy"] == full["accuracy"]
    a, _ = checkpoint.load(tmp_path / "full" / "checkpoints" / "last")
    b, _ = checkpoint.load(killed / "checkpoints" / "last")
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model."))


def test_ddp_two_processes_disjoint_data_identical_weights(subset, tmp_path):
    run = tmp_path / "ddp"
    cfg = _cfg(subset, tmp_path, epochs=2)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg.__dict__))
    script = (
        "import json,sys; from emovox import train; "
        "c=train.TrainConfig.from_dict(json.load(open(sys.argv[1]))); "
        "train.train(c, sys.argv[2], progress=False)"
    )
    (tmp_path / "run_ddp.py").write_text(script)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                    "--master_port=29533", str(tmp_path / "run_ddp.py"),
                    str(tmp_path / "cfg.json"), str(run)], check=True, env=env, timeout=600)
    r0 = json.loads((run / "rank0.json").read_text())
    r1 = json.loads((run / "rank1.json").read_text())
    assert r0["seen"] and r1["seen"]
    for epoch in range(2):  # within each epoch the ranks' samples are disjoint
        n = len(r0["seen"]) // 2
        e0 = set(r0["seen"][epoch * n:(epoch + 1) * n])
        e1 = set(r1["seen"][epoch * n:(epoch + 1) * n])
        assert not e0 & e1
    assert r0["weights_sha256"] == r1["weights_sha256"]
    assert (run / "metrics.json").exists()


def test_unknown_config_key_is_rejected():
    with pytest.raises(ValueError, match="unknown config keys"):
        train.TrainConfig.from_dict({"epoch": 3})


def test_load_config_yaml_with_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("epochs: 7\nlabels: 8\nlr: {cnn_lstm: 0.001, head: 0.002}\n")
    cfg = train.load_config(p, {"epochs": 9, "seed": None})
    assert cfg.epochs == 9 and cfg.labels == 8 and cfg.lr["head"] == 0.002
    assert np.isclose(cfg.weight_decay, 1e-2)


@pytest.mark.parametrize("model, finetune", [("ssl", 0), ("hybrid", 1)])
def test_encoder_models_train_and_reload(subset, tmp_path, model, finetune):
    """ssl and hybrid through the same engine with the real Whisper tiny.en encoder."""
    cfg = _cfg(subset, tmp_path, model=model, encoder="whisper-tiny", epochs=2,
               finetune_layers=finetune, ssl_layers=[1, 2, 3], model_config={"fusion_dim": 32})
    m = train.train(cfg, tmp_path / model, progress=False)
    assert m["n"] > 0 and 0.0 <= m["accuracy"] <= 1.0
    tensors, meta = checkpoint.load(tmp_path / model / "checkpoints" / "best")
    assert meta["encoder"] == "whisper-tiny" and meta["finetune_layers"] == finetune
    # encoder weights are never copied in, except the fine-tuned top layers
    assert not any(k.startswith("model.encoder") for k in tensors)
    assert any(k.startswith("model.top.") for k in tensors) == (finetune > 0)
    again = train.evaluate_run(tmp_path / model, out=tmp_path / f"{model}-eval")
    assert again["confusion"] == m["confusion"]
