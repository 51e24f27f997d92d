"""The training loop: one run = config + data -> checkpoints, log and metrics, top to bottom.

Every epoch's data order, augmentation draws and dropout masks are functions of (seed, epoch),
so a run resumed from its ``last`` checkpoint ends with the same numbers as one that was never
interrupted. Under torchrun each process trains on its share of every batch (DDP).
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from emovox import models
from emovox.data import multicorpus
from emovox.evaluation import metrics
from emovox.evaluation.evaluate import evaluate_run
from emovox.features.handcrafted import FeatureExtractor
from emovox.models.inputs import predict_proba
from emovox.models.loading import load_encoder
from emovox.store import checkpoint
from emovox.store.atomic import write_json, write_text
from emovox.store.runs import RunFolder
from emovox.train import recipe
from emovox.train.config import TrainConfig, validate
from emovox.train.prepare import Prepared, augmented_features, prepare, read_split, variant_batch
from emovox.train.recipe import build_model, model_meta
from emovox.train.runtime import (
    amp_dtype,
    init_distributed,
    manifest_hash,
    pick_device,
    rank_and_size,
    state_hash,
    versions,
)
from emovox.train.step import Step


@dataclass
class Progress:
    """What a checkpoint carries from epoch to epoch (and across a resume)."""

    epoch: int = 0  # the next epoch to run
    best: float = -1.0  # best validation macro-F1 so far
    bad: int = 0  # epochs since it last improved
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def train(cfg: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train one model into run folder ``out``; returns the test metrics."""
    run = RunFolder(out)
    device = pick_device(cfg.device)
    init_distributed(device)
    rank, world = rank_and_size()
    if resume:  # a resumed run continues with the config it saved
        cfg = validate(run.read_config())
    _check(cfg)

    # model and data: seeded first, since the encoder's and the model's initial weights draw
    # from torch's generator
    torch.manual_seed(cfg.seed)
    extractor = FeatureExtractor(cfg.feature).to(device)  # features on the training device
    kind = models.kind(cfg.model)
    encoder = load_encoder(cfg.encoder).to(device) if kind.needs_encoder else None
    manifest, split = read_split(cfg)
    labels = split.labels  # label_set(cfg.labels), or the labels both corpora have
    model = build_model(cfg, extractor.cfg.n_features, len(labels), encoder)
    prep = prepare(cfg, extractor, model, encoder, (manifest, split))
    if prep.pooled is not None:  # the encoder head standardises with training statistics
        model.enc.fit_norm(torch.from_numpy(np.stack([prep.pooled[i] for i in prep.split.train])))
    if rank == 0 and not resume:
        _write_run_files(run, cfg, prep)

    # optimiser, schedule, loss; state from the last checkpoint when resuming
    model.to(device)
    steps = max(1, len(prep.split.train) // world // cfg.batch_size)
    step = _step(cfg, model, prep, len(labels), device, steps)
    state = _resume(run, model, step.opt, step.sched, step.scaler) if resume else Progress()

    # the epochs: train, validate, keep the best (or last) model, save everything to resume
    seen: list[int] = []
    for epoch in range(state.epoch, cfg.epochs):
        if state.bad >= cfg.patience:
            break
        t0 = time.perf_counter()
        loss = _train_epoch(cfg, epoch, step, prep, extractor, steps, seen)
        if world > 1:  # BatchNorm running stats drift per rank; rank 0's are the model's
            for buf in model.buffers():
                dist.broadcast(buf, 0)
        vm = _validate(model, prep, labels, device)
        state.seconds += time.perf_counter() - t0
        improved = _record(state, cfg, epoch, loss, vm, step.sched, t0)
        if rank == 0:
            _save(run, cfg, step, labels, prep, state, vm, improved)
            if progress:
                _print_epoch(state.history[-1], improved)

    return _finish(run, model, state, seen, device)


def _finish(run: RunFolder, model: nn.Module, state, seen: list[int], device) -> dict:
    """The final evaluation on the test side, by the main process; under DDP each rank
    first records which clips it saw and its weights' digest."""
    rank, world = rank_and_size()
    if world > 1:
        write_json(
            {"rank": rank, "seen": seen, "weights_sha256": state_hash(model)},
            run.root / f"rank{rank}.json",
        )
        dist.barrier()
    if rank != 0:
        return {}
    extra = {"train_seconds": round(state.seconds, 2), "epochs_run": len(state.history)}
    return evaluate_run(run.root, device=device, extra=extra)


# --- the steps ---------------------------------------------------------------------------
def _check(cfg: TrainConfig) -> None:
    """Combinations the engine does not train, refused before any work."""
    if cfg.speaker_norm and not (
        models.kind(cfg.model).speaker_norm
        and cfg.encoder_pool == "meanstd"
        and cfg.finetune_layers == 0
        and cfg.protocol != "random"
    ):
        raise ValueError(
            "speaker_norm needs model encoder, encoder_pool meanstd, "
            "finetune_layers 0 and a speaker-disjoint protocol"
        )
    if cfg.speaker_norm_by not in ("speaker", "corpus"):
        raise ValueError(f"speaker_norm_by is speaker or corpus, not {cfg.speaker_norm_by!r}")
    if cfg.variants and cfg.augment.enabled:
        raise ValueError("variants replace on-the-fly augmentation (set augment.enabled false)")


def _step(
    cfg: TrainConfig, model: nn.Module, prep: Prepared, n_classes: int, device, steps: int
) -> Step:
    """The optimiser under its schedule, the loss, mixed precision and (under DDP) the
    wrapped model: one optimisation step, ready."""
    opt, sched = recipe.optimiser(cfg, model, steps)
    amp = amp_dtype(cfg.amp, device)
    return Step(
        net=nn.parallel.DistributedDataParallel(model) if rank_and_size()[1] > 1 else model,
        model=model,
        loss_fn=recipe.loss(cfg, prep, n_classes, device),
        opt=opt,
        sched=sched,
        scaler=torch.amp.GradScaler(device.type, enabled=amp == torch.float16),
        amp_dtype=amp,
        device=device,
        mixup=cfg.mixup,
        adversary=_adversary(cfg, model, prep, device),
    )


def _write_run_files(run: RunFolder, cfg: TrainConfig, prep: Prepared) -> None:
    run.root.mkdir(parents=True, exist_ok=True)
    prep.manifest.write_tsv(run.manifest)
    prep.split.save(run.split, prep.manifest)
    write_json(
        {
            "train": cfg.to_dict(),
            "versions": versions(),
            "manifest_sha256": manifest_hash(prep.manifest),
            "decode_errors": prep.errors,
        },
        run.config,
    )


def _resume(run: RunFolder, model: nn.Module, opt, sched, scaler) -> Progress:
    """Weights, optimiser, schedule, scaler and progress from the last checkpoint, if any."""
    if not run.has_checkpoint("last"):
        return Progress()
    tensors, meta = checkpoint.load(run.checkpoint("last"))
    model.load_state_dict(checkpoint.model_state(tensors))
    checkpoint.optimizer_from_flat(opt, tensors, meta["optimizer"])
    sched.load_state_dict(meta["scheduler"])
    scaler.load_state_dict(meta["scaler"])
    return Progress(
        meta["epoch"] + 1, meta["best"], meta["bad_epochs"], meta["history"], meta["train_seconds"]
    )


def _train_epoch(
    cfg: TrainConfig,
    epoch: int,
    step: Step,
    prep: Prepared,
    extractor: FeatureExtractor,
    steps: int,
    seen: list[int],
) -> float:
    """One pass over this process's share of a (seed, epoch)-determined order; mean loss."""
    rank, world = rank_and_size()
    rng = np.random.default_rng([cfg.seed, epoch])
    torch.manual_seed(cfg.seed * 100003 + epoch)
    order = _epoch_order(cfg, prep, rng)[: steps * cfg.batch_size * world]
    mine = order[rank::world]
    aug_rng = np.random.default_rng([cfg.seed, epoch, rank])
    aug_cfg = cfg.augment if models.kind(cfg.model).reads_features(cfg.model_config) else None
    step.net.train()
    total = 0.0
    for s in range(steps):
        batch = mine[s * cfg.batch_size : (s + 1) * cfg.batch_size]
        if world > 1:  # recorded for the rank report (disjoint shares)
            seen.extend(int(i) for i in batch)
        if cfg.variants:
            feats, states = variant_batch(batch, prep, cfg.variants, aug_rng)
        else:
            feats = (
                augmented_features(batch, prep, aug_cfg, aug_rng, extractor)
                if aug_cfg is not None
                else [prep.feats[i] for i in batch]
            )
            states = [prep.states[i] for i in batch] if prep.states else None
        total += step(feats, states, [prep.y[i] for i in batch], _allowed(prep, batch), batch)
    return total / max(steps, 1)


def _adversary(cfg: TrainConfig, model: nn.Module, prep: Prepared, device) -> tuple | None:
    """The corpus-adversarial branch, its optimiser and each clip's corpus index, or None."""
    if cfg.corpus_adversary <= 0:
        return None
    from emovox.train.adversary import CorpusAdversary

    names = sorted({r.corpus for r in prep.manifest.rows})
    corpus_of = np.array([names.index(r.corpus) for r in prep.manifest.rows])
    branch = CorpusAdversary(model, len(names), cfg.corpus_adversary).to(device)
    return branch, torch.optim.AdamW(branch.parameters(), lr=1e-3), corpus_of


def _epoch_order(cfg: TrainConfig, prep: Prepared, rng: np.random.Generator) -> np.ndarray:
    """The training clips in this epoch's order: a permutation, or with several corpora (and
    ``balance_corpora``) equal shares of each (``balance_classes``: of each corpus's each
    class)."""
    rows = [prep.manifest.rows[i] for i in prep.split.train]
    if cfg.balance_corpora and len({r.corpus for r in rows}) > 1:
        shares = multicorpus.shares(rows, cfg.balance_classes)
        return multicorpus.balanced_order(prep.split.train, shares, rng)
    return rng.permutation(prep.split.train)


def _allowed(prep: Prepared, batch: np.ndarray) -> np.ndarray | None:
    """Per clip of ``batch``, the labels its corpus has (None: one label set for all)."""
    if prep.class_masks is None:
        return None
    return np.stack([prep.class_masks[prep.manifest.rows[i].corpus] for i in batch])


def _validate(model: nn.Module, prep: Prepared, labels, device: torch.device) -> dict:
    valid = prep.split.valid
    states = [prep.states[i] for i in valid] if prep.states else None
    probs = predict_proba(model, [prep.feats[i] for i in valid], states, device)
    return metrics.metrics(np.array([prep.y[i] for i in valid]), probs.argmax(1), labels)


def _record(
    state: Progress, cfg: TrainConfig, epoch: int, loss: float, vm: dict, sched, t0: float
) -> bool:
    """Log the epoch; whether its model is the one to keep (best so far, or ``select: last``)."""
    improved = vm["macro_f1"] > state.best
    state.best, state.bad = (vm["macro_f1"], 0) if improved else (state.best, state.bad + 1)
    if cfg.select == "last":  # the model is the last epoch's, whatever validation says
        improved, state.bad = True, 0
    state.epoch = epoch + 1
    state.history.append(
        {
            "epoch": epoch,
            "train_loss": round(loss, 5),
            "valid_accuracy": round(vm["accuracy"], 5),
            "valid_macro_f1": round(vm["macro_f1"], 5),
            "lr": round(sched.get_last_lr()[0], 7),
            "seconds": round(time.perf_counter() - t0, 2),
        }
    )
    return improved


def _save(
    run: RunFolder,
    cfg: TrainConfig,
    step: Step,
    labels,
    prep: Prepared,
    state: Progress,
    vm: dict,
    improved: bool,
) -> None:
    """The kept model as ``model``; everything needed to resume as ``last`` (the step's
    optimiser, schedule and gradient scaler too); the log."""
    model, opt, sched, scaler = step.model, step.opt, step.sched, step.scaler
    meta = model_meta(cfg, model, labels) | {"epoch": state.epoch - 1}
    mean, std = checkpoint.FEATURE_STATS
    stats = {mean: torch.from_numpy(prep.stats.mean), std: torch.from_numpy(prep.stats.std)}
    weights = checkpoint.pack_model(model.state_dict())
    if improved:
        checkpoint.save(run.checkpoint("model"), {**weights, **stats}, {**meta, "valid": vm})
    opt_t, opt_meta = checkpoint.optimizer_to_flat(opt)
    checkpoint.save(
        run.checkpoint("last"),
        {**weights, **stats, **opt_t},
        {
            **meta,
            "best": state.best,
            "bad_epochs": state.bad,
            "history": state.history,
            "train_seconds": state.seconds,
            "optimizer": opt_meta,
            "scheduler": sched.state_dict(),
            "scaler": scaler.state_dict(),
        },
    )
    _write_log(run.log, state.history)


def _print_epoch(h: dict, improved: bool) -> None:
    print(
        f"epoch {h['epoch']:3d} loss {h['train_loss']:.4f} valid acc "
        f"{h['valid_accuracy']:.4f} f1 {h['valid_macro_f1']:.4f} "
        f"{h['seconds']:.1f}s{' *' if improved else ''}",
        flush=True,
    )


def _write_log(path: Path, history: list[dict]) -> None:
    buf = io.StringIO()
    if history:
        w = csv.DictWriter(buf, list(history[0]))
        w.writeheader()
        w.writerows(history)
    write_text(path, buf.getvalue())
