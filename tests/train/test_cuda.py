"""Training and prediction on a CUDA GPU (skipped without one): fp16, and resuming with the
gradient scaler."""

import numpy as np
import pytest
import torch

from emovox.data.corpora import Manifest
from emovox.store import checkpoint
from emovox.train.loop import train

from ..configs import TINY_MODEL, _cfg, _tiny_encoder_cfg, train_killed_after_epoch_1  # noqa: F401

pytestmark = pytest.mark.slow  # the file's tier (tests/README.md)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fp16_training_and_prediction(subset, tmp_path):
    """On a GPU (amp auto): fp16 autocast with a gradient scaler through a fine-tuned hybrid,
    finite losses, and the torch engine on CUDA gives the CPU's probabilities."""
    from emovox.data.clips import load_clips
    from emovox.infer import torch_engine

    cfg = _cfg(
        subset,
        tmp_path,
        model="hybrid",
        encoder="whisper-tiny",
        encoder_layers=[1, 2],
        finetune_layers=1,
        epochs=3,
        device="cuda",
        model_config={"fusion_dim": 32},
    )
    m = train(cfg, tmp_path / "gpu", progress=False)
    assert m["n"] > 0
    _, meta = checkpoint.load(tmp_path / "gpu" / "checkpoints" / "last")
    assert "scale" in meta["scaler"]  # a live gradient scaler: fp16, not bf16 or off
    assert all(np.isfinite(h["train_loss"]) for h in meta["history"])
    rows = Manifest.read_tsv(subset).rows[:6]
    waves = load_clips(rows).waves
    on_cpu = torch_engine.load(tmp_path / "gpu").predict_waves(waves)
    on_gpu = torch_engine.load(tmp_path / "gpu", device="cuda").predict_waves(waves)
    assert np.allclose(on_cpu, on_gpu, atol=5e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fp16_run_resumes_with_its_gradient_scaler(subset, tmp_path):
    """A killed fp16 run on a GPU resumes from its checkpoint, gradient scaler state included,
    and ends where the uninterrupted run ends (up to the GPU's nondeterministic reductions)."""
    cfg = _cfg(subset, tmp_path, epochs=4, device="cuda")
    train(cfg, tmp_path / "full", progress=False)
    killed = tmp_path / "killed"
    train_killed_after_epoch_1(cfg, killed)
    _, saved = checkpoint.load(killed / "checkpoints" / "last")
    assert saved["epoch"] == 1 and saved["scaler"]["scale"] > 0
    train(cfg, killed, resume=True, progress=False)
    a, meta_a = checkpoint.load(tmp_path / "full" / "checkpoints" / "last")
    b, meta_b = checkpoint.load(killed / "checkpoints" / "last")
    assert [h["epoch"] for h in meta_b["history"]] == [0, 1, 2, 3]
    assert meta_b["history"][:2] == saved["history"]  # the killed run's epochs are kept
    assert meta_b["scaler"]["scale"] == meta_a["scaler"]["scale"]
    for k in a:
        if k.startswith("model.") and a[k].is_floating_point():
            assert torch.allclose(a[k], b[k], atol=1e-2, rtol=1e-2), k
