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
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from emovox import checkpoint, corpora, data, ensemble, evaluate, protocols
from emovox.augment import AugmentConfig, augment
from emovox.cache import ArrayCache
from emovox.features import FeatureConfig, FeatureExtractor, FeatureStats, extract
from emovox.inference import (
    clip_inputs,
    encoder_inputs,
    load_encoder,
    load_members,
    load_model,
    model_inputs,
    predict_proba,
    uses_encoder,
)
from emovox.labels import label_set
from emovox.models.cnn_lstm import CNNLSTM, CNNLSTMConfig
from emovox.models.hybrid import HybridConfig, HybridModel, SSLHeadConfig, split_encoder


@dataclass
class TrainConfig:
    """Everything a run depends on; saved as the run's ``config.json``."""

    model: str = "cnn_lstm"  # cnn_lstm | ssl (encoder pathway alone) | hybrid
    data: list[str] = field(default_factory=lambda: ["../shared/datasets/ravdess"])
    labels: int = 7
    protocol: str = "speaker"  # random | speaker | cross-corpus | all (no test side)
    fold: int = 1  # speaker fold (1..6 on RAVDESS); for random: the split seed
    test_corpus: str = ""  # cross-corpus: the held-out corpus
    seed: int = 0  # weights, data order, augmentation draws, dropout
    split_seed: int | None = None  # validation speakers / split; None: ``seed``
    ensemble: int = 1  # members trained with seeds seed, seed + 1, ... on one split
    member_overrides: list[dict] = field(default_factory=list)  # per member, e.g. ssl_layers
    epochs: int = 30
    batch_size: int = 32
    lr: dict[str, float] = field(default_factory=lambda: {
        "cnn_lstm": 2e-3, "head": 2e-3, "ssl_head": 1e-3, "encoder": 5e-5})  # per component
    encoder: str = "whisper-base"  # ssl/hybrid: wheel name, local directory or hub id
    finetune_layers: int = 0  # trained encoder layers below the highest pooled one; the rest
    #   is frozen and cached (layers above the highest pooled layer are never run)
    ssl_layers: list[int] = field(default_factory=lambda: [2, 3, 4])  # hidden states pooled
    ssl_pool: str = "meanstd"  # meanstd (cached per-layer statistics) | attentive
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    class_weights: bool = True  # inverse-frequency loss weights (balanced classes)
    patience: int = 10  # early stopping on validation macro-F1
    select: str = "best"  # checkpoint kept as the model: best (validation macro-F1) | last
    trim_db: float = 0.0  # >0: every clip's leading and trailing silence (frames more than
    #   this many dB below its loudest) cut before features and encoder, here and at prediction
    speaker_norm: int = 0  # >0: standardise encoder statistics per speaker, test speakers
    #   from this many of their own (unlabelled) clips; training speakers from all of theirs
    variants: int = 0  # augmented copies of each training clip (augment's probabilities and
    #   ranges), featurised and encoded once and cached beside the clean clip; each epoch reads
    #   every training clip as the clean clip or one of its copies, the same for both pathways
    #   (instead of augmenting on the fly: with variants, augment.enabled must be false)
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
    """``auto``: this process's GPU (torchrun's LOCAL_RANK), or the CPU when there is no GPU
    for it (NCCL runs one rank per GPU; more ranks than GPUs train on CPU with gloo)."""
    if name == "auto":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        if torch.cuda.is_available() and local_ranks <= torch.cuda.device_count():
            return torch.device("cuda", local)
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
        _, top, norm = split_encoder(encoder, cfg.finetune_layers, max(cfg.ssl_layers))
        rest = dict(cfg.model_config)  # "cnn" / "ssl": overrides of the pathway configs
        cnn, ssl = rest.pop("cnn", {}), rest.pop("ssl", {})
        if set(ssl) & {"d_model", "layers", "pool"}:
            raise ValueError("set ssl_layers / ssl_pool, not model_config.ssl's layers / pool")
        hcfg = HybridConfig(
            n_classes=n_classes, use_cnn=cfg.model == "hybrid",
            cnn=CNNLSTMConfig(**{"n_features": n_features, "n_classes": n_classes, **cnn}),
            ssl=SSLHeadConfig(**{"d_model": encoder.d_model, "layers": tuple(cfg.ssl_layers),
                                 "pool": cfg.ssl_pool, **ssl}),
            **rest,
        )  # fmt: skip
        return HybridModel(hcfg, top, norm)
    raise ValueError(f"unknown model {cfg.model!r}; known: {', '.join(MODELS)}")


def make_split(manifest: corpora.Manifest, cfg: TrainConfig) -> protocols.Split:
    labels = label_set(cfg.labels)
    if cfg.protocol == "random":
        return protocols.random_split(manifest, labels, seed=cfg.fold)
    seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
    if cfg.protocol == "speaker":
        return protocols.speaker_fold(manifest, labels, cfg.fold, seed=seed)
    if cfg.protocol == "cross-corpus":
        train = set(manifest.column("corpus")) - {cfg.test_corpus}
        return protocols.cross_corpus(manifest, labels, train, cfg.test_corpus, seed=seed)
    if cfg.protocol == "all":
        return protocols.all_data(manifest, labels, cfg.valid_fraction, seed=seed)
    raise ValueError(f"unknown protocol {cfg.protocol!r}; known: random, speaker, "
                     "cross-corpus, all")  # fmt: skip


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
    states: dict[int, np.ndarray] | None = None  # what the encoder pathway reads (see below)
    pooled: dict[int, np.ndarray] | None = None  # per-layer statistics (meanstd pooling)
    variants: dict[int, list[np.ndarray]] | None = None  # training clips: copies' features
    state_variants: dict[int, list[np.ndarray]] | None = None  # ... and encoder inputs


def prepare(cfg: TrainConfig, extractor: FeatureExtractor, model: nn.Module,
            encoder: nn.Module | None = None) -> Prepared:  # fmt: skip
    manifest = corpora.read_corpora(cfg.data)
    split = make_split(manifest, cfg)
    idx = np.concatenate([split.train, split.valid, split.test])
    clips = data.load_clips([manifest.rows[i] for i in idx]).trimmed(cfg.trim_db)
    ok = {r.path for r in clips.rows}
    keep = [i for i in idx if manifest.rows[i].path in ok]
    waves = dict(zip(keep, clips.waves, strict=True))
    hashes = clips.keys  # cache keys: content (+ trimming)
    cache = ArrayCache(cfg.cache_dir or None)
    raw = data.clean_features(clips.waves, hashes, extractor, cache)
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
    states = pooled = None
    if encoder is not None:
        arrs, stats_arrs = encoder_inputs(model, encoder, cfg.encoder, clips.waves, hashes,
                                          cache)  # fmt: skip
        states = dict(zip(keep, arrs, strict=True))
        if stats_arrs is not None:
            pooled = dict(zip(keep, stats_arrs, strict=True))
        if cfg.speaker_norm:
            states = pooled = _speaker_norm_split(states, manifest, split, cfg.speaker_norm,
                                                  cfg.seed)  # fmt: skip
    variants = state_variants = None
    if cfg.variants > 0:
        train = list(split.train)
        key_of = dict(zip(keep, hashes, strict=True))
        waves_t, hashes_t = [waves[i] for i in train], [key_of[i] for i in train]
        aug = replace(AugmentConfig.from_dict(cfg.augment), enabled=True)
        copies = [data.Variant(k, aug, extractor.cfg.sr) for k in range(1, cfg.variants + 1)]
        if cfg.model != "ssl":  # the encoder pathway alone reads no handcrafted features
            feats_v = [[stats.apply(f) for f in data.clean_features(
                waves_t, hashes_t, extractor, cache, variant=v)] for v in copies]
            variants = {i: [f[j] for f in feats_v] for j, i in enumerate(train)}
        if encoder is not None:
            states_v = [encoder_inputs(model, encoder, cfg.encoder, waves_t, hashes_t, cache,
                                       v)[0] for v in copies]  # fmt: skip
            state_variants = {i: [a[j] for a in states_v] for j, i in enumerate(train)}
    return Prepared(manifest, split, waves, feats, stats, y, clips.errors, states, pooled,
                    variants, state_variants)  # fmt: skip


def _speaker_norm_split(arrays: dict[int, np.ndarray], manifest: corpora.Manifest,
                       split: protocols.Split, enroll: int,
                       seed: int) -> dict[int, np.ndarray]:  # fmt: skip
    """Speaker-standardised statistics: training speakers from all their clips, the
    validation and test speakers from ``enroll`` of theirs (their own side only)."""
    out: dict[int, np.ndarray] = {}
    for part, n in ((split.train, -1), (split.valid, enroll), (split.test, enroll)):
        idx = list(part)
        normed = data.speaker_standardise([arrays[i] for i in idx],
                                          [manifest.rows[i].speaker for i in idx], n, seed)
        out.update(zip(idx, normed, strict=True))
    return out


def model_meta(cfg: TrainConfig, model: nn.Module, labels: tuple[str, ...]) -> dict:
    """What a checkpoint needs to be rebuilt; encoder weights are named, never copied in."""
    return {"model": cfg.model, "model_config": model.cfg.to_dict(), "labels": list(labels),
            "feature_config": cfg.feature, "versions": _versions(), "encoder": cfg.encoder,
            "finetune_layers": cfg.finetune_layers, "speaker_norm": cfg.speaker_norm,
            "trim_db": cfg.trim_db, "seed": cfg.seed}  # fmt: skip


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
    if cfg.speaker_norm and not (cfg.model == "ssl" and cfg.ssl_pool == "meanstd"
                                 and cfg.finetune_layers == 0 and cfg.protocol != "random"):
        raise ValueError("speaker_norm needs model ssl, ssl_pool meanstd, finetune_layers 0 "
                         "and a speaker-disjoint protocol")  # fmt: skip
    if cfg.variants and (cfg.speaker_norm or AugmentConfig.from_dict(cfg.augment).enabled):
        raise ValueError("variants replace on-the-fly augmentation (set augment.enabled "
                         "false) and do not combine with speaker_norm")  # fmt: skip
    _checked(cfg.select, "select")
    torch.manual_seed(cfg.seed)
    # features and frozen encoder states are computed on the training device too
    extractor = FeatureExtractor(FeatureConfig.from_dict(cfg.feature)).to(device)
    aug_cfg = AugmentConfig.from_dict(cfg.augment)
    if cfg.model == "ssl":  # augmentation reaches the handcrafted features only, unused here
        aug_cfg = AugmentConfig(enabled=False)
    encoder = load_encoder(cfg.encoder).to(device) if uses_encoder(cfg.model) else None
    labels = label_set(cfg.labels)
    model = build_model(cfg, extractor.cfg.n_features, len(labels), encoder)
    prep = prepare(cfg, extractor, model, encoder)
    split = prep.split
    if prep.pooled is not None:
        model.ssl.fit_norm(torch.from_numpy(np.stack([prep.pooled[i] for i in split.train])))
    if main and not resume:
        prep.manifest.write_tsv(out / "manifest.tsv")
        prep.split.save(out / "split.json", prep.manifest)
        evaluate.write_json({"train": asdict(cfg), "versions": _versions(),
                             "manifest_sha256": _manifest_hash(prep.manifest),
                             "decode_errors": prep.errors}, out / "config.json")  # fmt: skip

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
            if cfg.variants:
                feats, states = _variant_batch(batch, prep, cfg.variants, aug_rng)
            else:
                feats = _augmented_features(batch, prep, aug_cfg, aug_rng, extractor, sr)
                states = [prep.states[i] for i in batch] if prep.states else None
            inputs = model_inputs(model, feats, states, device)
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
        probs = predict_proba(model, valid_feats, valid_states, device)
        vm = evaluate.metrics(valid_y, probs.argmax(1), labels)
        elapsed += time.perf_counter() - t0
        improved = vm["macro_f1"] > best
        best, bad = (vm["macro_f1"], 0) if improved else (best, bad + 1)
        if cfg.select == "last":  # the model is the last epoch's, whatever validation says
            improved, bad = True, 0
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


def _variant_batch(batch: np.ndarray, prep: Prepared, n: int,
                   rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """A training batch's (features, encoder inputs or None): per clip, the clean clip or one
    of its ``n`` cached augmented copies, drawn uniformly, the same for both pathways."""
    pick = rng.integers(0, n + 1, len(batch))

    def choose(clean: dict, copies: dict | None) -> list[np.ndarray]:
        return [clean[i] if p == 0 or copies is None else copies[i][p - 1]
                for i, p in zip(batch, pick, strict=True)]  # fmt: skip

    states = choose(prep.states, prep.state_variants) if prep.states is not None else None
    return choose(prep.feats, prep.variants), states


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


def split_rows(run: Path, labels: tuple[str, ...], data_paths: list[str] | None,
          part: str = "test") -> list[corpora.Utterance]:  # fmt: skip
    """The run's ``part`` of its split, or every usable clip of other corpora."""
    if data_paths:
        manifest = corpora.read_corpora(data_paths)
        return [manifest.rows[i] for i in protocols.select(manifest, labels)]
    names = set(json.loads((run / "split.json").read_text())[part])
    return [r for r in corpora.Manifest.read_tsv(run / "manifest.tsv").rows if r.path in names]


def run_cache(run: Path) -> ArrayCache:
    cfg = json.loads((run / "config.json").read_text())["train"]
    return ArrayCache(cfg.get("cache_dir") or None)


def _probs(loaded, clips: data.Clips, cache: ArrayCache, device: torch.device) -> np.ndarray:
    """A loaded model's probabilities on decoded clips, reading the same caches as training."""
    return predict_proba(loaded.model.to(device), *clip_inputs(loaded, clips, cache), device)


def _keep_training_figures(out: Path, extra: dict | None) -> dict:
    extra = dict(extra or {})
    if not extra and (out / "metrics.json").exists():  # re-evaluation keeps training figures
        old = json.loads((out / "metrics.json").read_text())
        extra = {k: old[k] for k in ("train_seconds", "epochs_run") if k in old}
    return extra


def _checked(checkpoint_name: str, what: str = "checkpoint") -> str:
    if checkpoint_name not in ("best", "last"):
        raise ValueError(f"{what} must be best or last, not {checkpoint_name!r}")
    return checkpoint_name


def report_dir(run: Path, out: str | Path | None, checkpoint_name: str) -> Path:
    """Where an evaluation writes: ``out``, else the run folder for its best checkpoint and
    ``RUN/last-checkpoint`` for the last, so the run's own reports stay the best's."""
    if out:
        return Path(out)
    return run if _checked(checkpoint_name) == "best" else run / "last-checkpoint"


def evaluate_run(run: str | Path, data_paths: list[str] | None = None,
                 out: str | Path | None = None, device: torch.device | None = None,
                 extra: dict | None = None, checkpoint_name: str = "best") -> dict:  # fmt: skip
    """Evaluate a run's best (or last) checkpoint (an ensemble run: every member and both
    votes) on its test split, or on whole corpora ``data_paths``.

    Writes metrics.json, report.txt and confusion.png into ``out`` (default: the run folder,
    or ``RUN/last-checkpoint`` for the last checkpoint).
    """
    run = Path(run)
    if (run / "ensemble.json").exists():
        return evaluate_ensemble(run, data_paths, out, device, checkpoint_name)
    out = report_dir(run, out, checkpoint_name)
    device = device or torch.device("cpu")
    loaded = load_model(run / "checkpoints" / checkpoint_name)
    labels = tuple(loaded.meta["labels"])
    clips = data.load_clips(split_rows(run, labels, data_paths))
    extra = _keep_training_figures(out, extra)
    extra["decode_errors"] = [{"path": p, "cause": c} for p, c in clips.errors]
    if not clips.rows:  # protocol "all": nothing held out
        m = {"n": 0, "labels": list(labels), "note": "no test clips"} | extra
        evaluate.write_json(m, out / "metrics.json")
        return m
    probs = _probs(loaded, clips, run_cache(run), device)
    y = np.array([labels.index(r.emotion) for r in clips.rows])
    return evaluate.write_reports(out, y, probs.argmax(1), labels, extra)


def train_ensemble(cfg: TrainConfig, out: str | Path) -> dict:
    """Train ``cfg.ensemble`` members (seeds seed, seed + 1, ...; ``member_overrides`` can
    vary more, e.g. the pooled layers) on one split into ``out/member{k}``, then evaluate
    members, soft and hard votes. Finished members are read,
    an interrupted one resumes, so a killed ensemble run picks up where it stopped."""
    if cfg.member_overrides and len(cfg.member_overrides) != cfg.ensemble:
        raise ValueError(f"member_overrides needs one entry per member ({cfg.ensemble})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [f"member{k}" for k in range(cfg.ensemble)]
    split_seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
    evaluate.write_json({"train": asdict(cfg), "versions": _versions()}, out / "config.json")
    for k, name in enumerate(names):
        run = out / name
        if (run / "metrics.json").exists():
            continue
        extra = cfg.member_overrides[k] if cfg.member_overrides else {}
        member = TrainConfig.from_dict({**asdict(cfg), "seed": cfg.seed + k,
                                        "split_seed": split_seed, "ensemble": 1,
                                        "member_overrides": [], **extra})  # fmt: skip
        train(member, run, resume=(run / "checkpoints" / "last.json").exists())
    evaluate.write_json({"members": names, "temperature": 1.0}, out / "ensemble.json")
    return evaluate_ensemble(out)


def evaluate_ensemble(run: str | Path, data_paths: list[str] | None = None,
                      out: str | Path | None = None, device: torch.device | None = None,
                      checkpoint_name: str = "best") -> dict:  # fmt: skip
    """Members, soft vote (mean probability) and hard vote (majority, ties to the largest
    summed probability) on the test side; a temperature for the soft vote fitted on the
    validation side, with expected calibration error before and after. The run keeps the
    temperature of its best checkpoints; that of the last ones is reported only."""
    run = Path(run)
    out = report_dir(run, out, checkpoint_name)
    device = device or torch.device("cpu")
    spec = json.loads((run / "ensemble.json").read_text())
    dirs = [run / name for name in spec["members"]]
    members = load_members([d / "checkpoints" / checkpoint_name for d in dirs])
    labels = tuple(members[0].meta["labels"])
    cache = run_cache(dirs[0])
    test = data.load_clips(split_rows(dirs[0], labels, data_paths))
    valid = data.load_clips(split_rows(dirs[0], labels, None, "valid"))
    p_valid = [_probs(m, valid, cache, device) for m in members]
    y_valid = np.array([labels.index(r.emotion) for r in valid.rows])
    temperature = ensemble.fit_temperature(ensemble.soft_vote(p_valid), y_valid)
    if checkpoint_name == "best":
        evaluate.write_json({**spec, "temperature": temperature}, run / "ensemble.json")
    seconds = [json.loads((d / "metrics.json").read_text()).get("train_seconds", 0.0)
               for d in dirs]  # fmt: skip
    extra = {"train_seconds": round(float(sum(seconds)), 2),
             "decode_errors": [{"path": p, "cause": c} for p, c in test.errors]}  # fmt: skip
    if not test.rows:
        soft_valid = ensemble.soft_vote(p_valid)
        m = {"n": 0, "labels": list(labels), "note": "no test clips", **extra, "ensemble": {
            "temperature": temperature,
            "valid_ece_before": evaluate.expected_calibration_error(soft_valid, y_valid),
            "valid_ece_after": evaluate.expected_calibration_error(
                ensemble.apply_temperature(soft_valid, temperature), y_valid)}}  # fmt: skip
        evaluate.write_json(m, out / "metrics.json")
        return m
    p_test = [_probs(m, test, cache, device) for m in members]
    y = np.array([labels.index(r.emotion) for r in test.rows])
    soft = ensemble.soft_vote(p_test)
    hard = ensemble.hard_vote(p_test)
    summary = {
        "n_members": len(members), "vote": "soft",
        "members": [evaluate.metrics(y, p.argmax(1), labels) for p in p_test],
        "soft": evaluate.metrics(y, soft.argmax(1), labels),
        "hard": evaluate.metrics(y, hard, labels),
        "temperature": temperature,
        "ece_before": evaluate.expected_calibration_error(soft, y),
        "ece_after": evaluate.expected_calibration_error(
            ensemble.apply_temperature(soft, temperature), y),
    }  # fmt: skip
    m = evaluate.write_reports(out, y, soft.argmax(1), labels, extra | {"ensemble": summary})
    with open(out / "report.txt", "a") as f:
        f.write("\n" + evaluate.ensemble_text(summary))
    return m


def export(run_dir: str | Path, out: str | Path) -> Path:
    """A self-contained model folder from a run or an ensemble run: ``member{k}`` checkpoints
    (weights, feature statistics, metadata; no optimizer, no encoder weights) and
    ``model.json`` (members, temperature, labels, the training config and test metrics)."""
    import shutil
    import tempfile

    run_dir, out = Path(run_dir), Path(out)
    if (run_dir / "ensemble.json").exists():
        spec = json.loads((run_dir / "ensemble.json").read_text())
        stems = [run_dir / m / "checkpoints" / "best" for m in spec["members"]]
    else:
        spec, stems = {}, [run_dir / "checkpoints" / "best"]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    names = []
    for k, stem in enumerate(stems):
        tensors, meta = checkpoint.load(stem)
        keep = {n: t for n, t in tensors.items() if n.startswith(("model.", "feature_"))}
        checkpoint.save(tmp / f"member{k}", keep, {k2: v for k2, v in meta.items()
                                                   if k2 not in ("optimizer", "history")})
        names.append(f"member{k}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    evaluate.write_json({
        "members": names, "temperature": float(spec.get("temperature", 1.0)),
        "labels": metrics["labels"],
        "train": json.loads((run_dir / "config.json").read_text())["train"],
        "metrics": {k: v for k, v in metrics.items() if k not in ("ensemble", "decode_errors")},
    }, tmp / "model.json")  # fmt: skip
    tmp.chmod(0o755)  # mkdtemp/mkstemp make private files; a model folder is for sharing
    for f in tmp.iterdir():
        f.chmod(0o644)
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    return out


def run(cfg: TrainConfig, out: str | Path, resume: bool = False) -> dict:
    """One model, or an ensemble when ``cfg.ensemble > 1``."""
    if cfg.ensemble > 1:
        return train_ensemble(cfg, out)
    return train(cfg, out, resume=resume)


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
        fold_dir = out / f"fold{k}"
        if (fold_dir / "metrics.json").exists():
            results.append(json.loads((fold_dir / "metrics.json").read_text()))
            continue
        fold_cfg = TrainConfig.from_dict({**asdict(cfg), "fold": k})
        resume = (fold_dir / "checkpoints" / "last.json").exists()
        results.append(run(fold_cfg, fold_dir, resume=resume))
    summary = evaluate.summarise_folds(results) | {
        "protocol": cfg.protocol, "model": cfg.model, "folds_run": folds,
        "train_seconds_mean": float(np.mean([r.get("train_seconds", 0) for r in results])),
    }  # fmt: skip
    if all("ensemble" in r for r in results):
        summary["ensemble"] = evaluate.summarise_ensembles([r["ensemble"] for r in results])
    evaluate.write_json(summary, out / "summary.json")
    evaluate.plot_confusion(summary["confusion"], summary["labels"], out / "confusion.png",
                            f"{cfg.model}, {cfg.protocol}: summed over folds")  # fmt: skip
    return summary
