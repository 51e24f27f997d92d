"""The training engine on a small real RAVDESS subset: resume, determinism, reports, DDP."""

import builtins
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from emovox.audio.frontend import Frontend
from emovox.data.corpora import Manifest
from emovox.evaluation import evaluate
from emovox.store import checkpoint, runs
from emovox.train import config, experiments, prepare
from emovox.train.loop import build_model, train

from .configs import TINY_MODEL, _cfg, _tiny_encoder_cfg  # noqa: F401


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


def _train_killed_after_epoch_1(cfg: config.TrainConfig, run) -> None:
    """A run killed right after epoch 1's checkpoint (the interrupt comes from its progress
    line, as a Ctrl-C would)."""
    real_print = builtins.print

    def kill_after_epoch_1(*a, **k):
        real_print(*a, **k)
        if a and str(a[0]).startswith("epoch   1"):
            raise KeyboardInterrupt

    builtins.print = kill_after_epoch_1
    try:
        with pytest.raises(KeyboardInterrupt):
            train(cfg, run, progress=True)
    finally:
        builtins.print = real_print


def test_same_seed_same_numbers_and_resume_matches(subset, tmp_path):
    full = train(_cfg(subset, tmp_path, epochs=4), tmp_path / "full", progress=False)
    again = train(_cfg(subset, tmp_path, epochs=4), tmp_path / "again", progress=False)
    assert full["confusion"] == again["confusion"]

    killed = tmp_path / "killed"
    cfg = _cfg(subset, tmp_path, epochs=4)
    _train_killed_after_epoch_1(cfg, killed)
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


@pytest.mark.parametrize("model, finetune", [("encoder", 0), ("hybrid", 1)])
def test_encoder_models_train_and_reload(subset, tmp_path, model, finetune):
    """encoder and hybrid through the same engine with the real Whisper tiny.en encoder."""
    cfg = _cfg(
        subset,
        tmp_path,
        model=model,
        encoder="whisper-tiny",
        epochs=2,
        finetune_layers=finetune,
        encoder_layers=[1, 2, 3],
        model_config={"fusion_dim": 32},
    )
    m = train(cfg, tmp_path / model, progress=False)
    assert m["n"] > 0 and 0.0 <= m["accuracy"] <= 1.0
    tensors, meta = checkpoint.load(tmp_path / model / "checkpoints" / "model")
    assert meta["encoder"] == "whisper-tiny" and meta["finetune_layers"] == finetune
    # encoder weights are never copied in, except the fine-tuned top layers
    assert not any(k.startswith("model.encoder") for k in tensors)
    assert any(k.startswith("model.top.") for k in tensors) == (finetune > 0)
    if finetune:  # the copied top layer (state 3 = layer index 2) has moved from the encoder's
        from emovox.models.loading import load_encoder

        start = load_encoder("whisper-tiny").encoder.layers[2].state_dict()
        top = {
            k.removeprefix("model.top.0."): v
            for k, v in tensors.items()
            if k.startswith("model.top.0.")
        }
        assert top.keys() == start.keys()
        assert sum(not torch.equal(v, start[k].to(v.dtype)) for k, v in top.items()) > len(top) // 2
    again = evaluate.evaluate_run(tmp_path / model, out=tmp_path / f"{model}-eval")
    assert again["confusion"] == m["confusion"]


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
    from emovox.data.corpora import Manifest
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


def test_speaker_norm_standardises_each_speaker_and_predictor_needs_enrollment(subset, tmp_path):
    from emovox.data.clips import load_clips, speaker_standardise
    from emovox.infer import torch_engine

    arrays = [np.full(4, v, dtype=np.float32) + np.arange(4) for v in (1.0, 3.0, 10.0, 14.0)]
    out = speaker_standardise(arrays, ["a", "a", "b", "b"], enroll=-1)
    assert np.allclose(out[0], -1.0) and np.allclose(out[1], 1.0) and np.allclose(out[3], 1.0)
    cfg = _cfg(
        subset,
        tmp_path,
        model="encoder",
        encoder="whisper-tiny",
        encoder_layers=[1, 2],
        epochs=2,
        speaker_norm=4,
        model_config={},
        select="last",
    )
    m = train(cfg, tmp_path / "sn", progress=False)
    assert m["n"] > 0
    _, meta = checkpoint.load(tmp_path / "sn" / "checkpoints" / "model")
    assert meta["epoch"] == 1  # select: last keeps the final epoch whatever validation says
    pred = torch_engine.load(tmp_path / "sn")
    assert pred.backend.metas[0]["speaker_norm"] == 4
    clip = load_clips(Manifest.read_tsv(subset).rows[:3]).waves
    with pytest.raises(ValueError, match="enrollment"):
        pred.predict_waves(clip[:1])
    p = pred.predict_waves(clip[:1], enrollment=clip)
    assert p.shape == (1, 8) and np.isclose(p.sum(), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="speaker_norm needs"):
        train(_cfg(subset, tmp_path, speaker_norm=4), tmp_path / "bad", progress=False)


def test_trimmed_runs_predict_from_untrimmed_waves_as_evaluated(subset, tmp_path):
    """trim_db cuts silence before the encoder in training, evaluation and both predictors:
    the exported model's probabilities on the raw test clips equal the evaluation's."""
    from emovox.data.clips import load_clips
    from emovox.data.corpora import Manifest
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


def test_variants_are_cached_augmented_copies_that_both_pathways_draw(
    subset, tmp_path, monkeypatch
):
    from emovox.data.clips import Variant
    from emovox.features.handcrafted import FeatureExtractor
    from emovox.models.loading import load_encoder

    # augment.enabled false: no on-the-fly augmentation; the copies use its probabilities
    noisy = {"enabled": False, "p_pitch": 0.0, "p_stretch": 0.0, "p_noise": 1.0, "p_gain": 0.0}
    cfg = _cfg(
        subset,
        tmp_path,
        model="hybrid",
        encoder="whisper-tiny",
        encoder_layers=[1, 2],
        epochs=2,
        variants=2,
        augment=noisy,
        model_config={"fusion_dim": 32},
    )
    extractor = FeatureExtractor(cfg.feature)
    encoder = load_encoder(cfg.encoder)
    model = build_model(cfg, extractor.cfg.n_features, 8, encoder)
    prep = prepare.prepare(cfg, extractor, model, encoder)
    train_ids = set(prep.split.train.tolist())
    assert set(prep.variants) == set(prep.state_variants) == train_ids
    assert not any(i in prep.variants for i in prep.split.test)  # test clips stay clean
    i = int(prep.split.train[0])
    for clean, (v1, v2) in (
        (prep.feats[i], prep.variants[i]),
        (prep.states[i], prep.state_variants[i]),
    ):
        assert v1.shape[-1] == clean.shape[-1]
        assert not np.allclose(v1, clean) and not np.allclose(v1, v2)

    # cached: a second run reads the copies back without augmenting anything
    def boom(*_):
        raise AssertionError("augmented again")

    monkeypatch.setattr(Variant, "apply", boom)
    again = prepare.prepare(cfg, extractor, model, encoder)
    assert np.array_equal(again.variants[i][1], prep.variants[i][1])
    assert np.array_equal(again.state_variants[i][1], prep.state_variants[i][1])

    # each clip is drawn as clean or one copy, the same one for both pathways
    batch = prep.split.train[:16]
    feats, states = prepare.variant_batch(batch, prep, 2, np.random.default_rng(0))
    picks = []
    for j, f, s in zip(batch, feats, states, strict=True):
        fk = next(k for k, a in enumerate([prep.feats[j], *prep.variants[j]]) if a is f)
        sk = next(k for k, a in enumerate([prep.states[j], *prep.state_variants[j]]) if a is s)
        assert fk == sk
        picks.append(fk)
    assert set(picks) == {0, 1, 2}
    m = train(cfg, tmp_path / "v", progress=False)
    assert m["n"] > 0
    with pytest.raises(ValueError, match="variants replace"):
        bad = _cfg(subset, tmp_path, variants=1, augment={"enabled": True})
        train(bad, tmp_path / "bad", progress=False)


def test_speaker_norm_standardises_copies_with_the_speakers_clean_statistics(subset, tmp_path):
    """With speaker_norm, a training clip's copies go through its speaker's clean statistics
    (what is left of a recording condition after speaker normalisation is what the head
    learns), and each training speaker's clean statistics come out centred."""
    from emovox.data.clips import mean_std
    from emovox.features.handcrafted import FeatureExtractor
    from emovox.models.loading import load_encoder

    noisy = {"enabled": False, "p_pitch": 0.0, "p_stretch": 0.0, "p_noise": 1.0, "p_gain": 0.0}
    cfg = _tiny_encoder_cfg(subset, tmp_path, encoder_layers=[1, 2], variants=1, augment=noisy)
    extractor = FeatureExtractor(cfg.feature)
    encoder = load_encoder(cfg.encoder)
    model = build_model(cfg, extractor.cfg.n_features, 8, encoder)
    raw = prepare.prepare(cfg, extractor, model, encoder)
    normed = prepare.prepare(cfg.replace(speaker_norm=4), extractor, model, encoder)
    speaker = raw.manifest.rows[int(raw.split.train[0])].speaker
    ids = [int(i) for i in raw.split.train if raw.manifest.rows[i].speaker == speaker]
    mean, std = mean_std(np.stack([raw.states[i] for i in ids]))
    assert np.allclose(np.mean([normed.states[i] for i in ids], axis=0), 0.0, atol=1e-4)
    for i in ids:
        expected = (raw.state_variants[i][0] - mean) / std
        assert np.allclose(normed.state_variants[i][0], expected, atol=1e-4)
        assert not np.allclose(normed.state_variants[i][0], normed.states[i], atol=1e-2)


def _tiny_hubert(folder):
    """A tiny randomly initialised HubertModel saved like a hub download."""
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    HubertModel(
        HubertConfig(
            hidden_size=32,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(16, 16),
            conv_stride=(5, 4),
            conv_kernel=(10, 4),
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
        )
    ).save_pretrained(folder)
    return folder


def test_hubert_encoder_from_a_local_folder_trains_frozen_and_predicts(subset, tmp_path):
    """The HuBERT path of the engine with a tiny random config of the real model class."""
    from emovox.infer import torch_engine

    hub = _tiny_hubert(tmp_path / "hubert-tiny")
    cfg = _cfg(
        subset,
        tmp_path,
        model="encoder",
        encoder=str(hub),
        encoder_layers=[1, 2],
        epochs=2,
        model_config={},
    )
    m = train(cfg, tmp_path / "hub", progress=False)
    assert m["n"] > 0 and 0.0 <= m["accuracy"] <= 1.0
    pred = torch_engine.load(tmp_path / "hub")
    clips = data_clips(subset, 2)
    p = pred.predict_waves(clips)
    assert p.shape == (2, 8) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="needs a Whisper encoder"):
        train(
            _cfg(
                subset,
                tmp_path,
                model="encoder",
                encoder=str(hub),
                encoder_layers=[1, 2],
                finetune_layers=1,
                model_config={},
            ),
            tmp_path / "ft",
            progress=False,
        )


def data_clips(subset, n):
    from emovox.data.clips import load_clips

    return load_clips(Manifest.read_tsv(subset).rows[:n]).waves


def test_ensemble_members_with_different_encoders_each_read_their_own(subset, tmp_path):
    """A Whisper tiny.en member and a HuBERT member in one ensemble: evaluation from an empty
    cache and the torch engine from waveforms run each member on its own encoder, and agree."""
    import shutil

    from emovox.data.clips import load_clips
    from emovox.infer import torch_engine

    hub = _tiny_hubert(tmp_path / "hubert-tiny")
    cfg = _tiny_encoder_cfg(
        subset,
        tmp_path,
        epochs=2,
        ensemble=2,
        model_config={},
        member_overrides=[{}, {"encoder": str(hub), "encoder_layers": [1, 2]}],
    )
    m = experiments.run(cfg, tmp_path / "mix")
    assert [
        json.loads((tmp_path / "mix" / f"member{k}" / "checkpoints" / "model.json").read_text())[
            "encoder"
        ]
        for k in (0, 1)
    ] == ["whisper-tiny", str(hub)]
    shutil.rmtree(tmp_path / "cache")  # nothing cached: every member encodes afresh
    again = evaluate.evaluate_run(tmp_path / "mix", out=tmp_path / "mix-eval")
    assert again["ensemble"]["members"] == m["ensemble"]["members"]
    assert again["confusion"] == m["confusion"]
    pred = torch_engine.load(tmp_path / "mix")
    assert set(pred.encoders) == {"whisper-tiny", str(hub)}
    split = json.loads((tmp_path / "mix" / "member0" / "split.json").read_text())
    rows = [r for r in Manifest.read_tsv(subset).rows if r.path in set(split["test"])]
    clips = load_clips(rows)
    y = np.array([pred.labels.index(r.emotion) for r in clips.rows])
    acc = float((pred.predict_waves(clips.waves).argmax(1) == y).mean())
    assert acc == pytest.approx(m["accuracy"])


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
    _train_killed_after_epoch_1(cfg, killed)
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


def test_cross_corpus_models_answer_in_the_labels_both_corpora_have(subset, tmp_path):
    """RAVDESS (8 emotions) -> ASED (5): the targets, the model's outputs and its metadata
    all use the 5 shared labels, in one order."""
    from emovox.data.corpora import read_corpus

    from .conftest import RAVDESS

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
    pred.frontend = Frontend()  # the raw level reaches the encoder: the answer moves
    quiet = [w * np.float32(0.1) for w in waves]
    assert np.abs(pred.predict_waves(quiet) - pred.predict_waves(waves)).max() > 1e-2


def test_the_corpus_adversary_reverses_its_gradient_and_mixup_mixes_pairs(subset, tmp_path):
    """The gradient-reversal branch sends the model the opposite of its own corpus gradient
    (scaled by its weight); mixup mixes pooled statistics convexly with a partner's."""
    from emovox.models.loading import load_encoder
    from emovox.train import recipe
    from emovox.train.adversary import CorpusAdversary
    from emovox.train.loop import Step

    torch.manual_seed(0)
    cfg = _tiny_encoder_cfg(subset, tmp_path)
    model = recipe.build_model(cfg, 10, 8, load_encoder("whisper-tiny"))
    model.eval()  # no dropout: the two passes below see the same vector
    branch = CorpusAdversary(model, 3, weight=0.5)
    pooled = torch.randn(6, 3, 2 * 384)
    corpus = torch.tensor([0, 1, 2, 0, 1, 2])
    model(None, None, None, None, pooled)
    branch.loss(corpus).backward()
    reversed_grad = model.enc.mlp[1].weight.grad.clone()
    model.zero_grad()
    model(None, None, None, None, pooled)
    nn.functional.cross_entropy(branch.net(branch.seen), corpus).backward()
    assert torch.allclose(reversed_grad, -0.5 * model.enc.mlp[1].weight.grad, atol=1e-6)
    assert reversed_grad.abs().sum() > 0
    step = Step(None, model, None, None, None, None, None, torch.device("cpu"), mixup=0.4)
    y = torch.arange(6)
    (*_, mixed), lam, y2, _ = step.mixed((None, None, None, None, pooled), y, ())
    partner = pooled[y2]  # labels are row numbers here: y2 names each row's partner
    assert torch.allclose(mixed, lam * pooled + (1 - lam) * partner, atol=1e-6)
