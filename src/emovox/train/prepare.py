"""A run's data, made once: manifest -> split -> decoded clips -> features and encoder inputs.

Everything costly is cached by content (see :mod:`emovox.data`): clean features, the frozen
encoder's statistics or states, and ``variants`` augmented copies of each training clip. A
training batch then reads, per clip, the clean arrays or one copy's
(:func:`variant_batch`), or clean features recomputed for clips that on-the-fly augmentation
changed (:func:`augmented_features`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from torch import nn

from emovox import models
from emovox.audio.augment import AugmentConfig, augment
from emovox.audio.frontend import Frontend
from emovox.data import corpora, multicorpus, protocols
from emovox.data.clips import (
    Babble,
    Variant,
    clean_features,
    load_clips,
    speaker_standardise,
    speaker_stats,
)
from emovox.data.labels import label_set
from emovox.features.handcrafted import FeatureExtractor, FeatureStats, extract
from emovox.models.inputs import encoder_inputs
from emovox.store.cache import ArrayCache
from emovox.train.config import TrainConfig


@dataclass
class Prepared:
    """A run's data, decoded and featurised once; dicts are keyed by manifest row."""

    manifest: corpora.Manifest
    split: protocols.Split
    waves: dict[int, np.ndarray]
    feats: dict[int, np.ndarray]  # clean, normalised
    stats: FeatureStats
    y: dict[int, int]
    errors: list[tuple[str, str]]
    frontend: Frontend = Frontend()  # what every wave went through (augmented copies too)
    class_masks: dict[str, np.ndarray] | None = None  # per corpus, the labels it has (None:
    #   every corpus has every label)
    states: dict[int, np.ndarray] | None = None  # what the encoder pathway reads
    pooled: dict[int, np.ndarray] | None = None  # per-layer statistics (meanstd pooling)
    variants: dict[int, list[np.ndarray]] | None = None  # training clips: copies' features
    state_variants: dict[int, list[np.ndarray]] | None = None  # ... and encoder inputs


def make_split(manifest: corpora.Manifest, cfg: TrainConfig) -> protocols.Split:
    """The protocol's split of ``manifest`` for ``cfg`` (fold, split seed, test corpus), on the
    config's label set less the labels no corpus of the manifest has."""
    present = set(manifest.column("emotion"))  # one corpus without some labels (ASED: 5 of 7)
    labels = tuple(x for x in label_set(cfg.labels) if x in present)
    seed = cfg.resolved_split_seed
    if cfg.protocol == "random":
        return protocols.random_split(manifest, labels, seed=seed)
    if cfg.protocol == "speaker":
        return protocols.speaker_fold(manifest, labels, cfg.fold, seed=seed)
    if cfg.protocol == "cross-corpus":
        train = set(manifest.column("corpus")) - {cfg.test_corpus}
        return protocols.cross_corpus(manifest, labels, train, cfg.test_corpus, seed=seed)
    return protocols.all_data(manifest, labels, cfg.valid_fraction, seed=seed)


def read_split(cfg: TrainConfig) -> tuple[corpora.Manifest, protocols.Split]:
    """The config's corpora and their split; the split's labels are the model's (cross-corpus:
    only those both sides have)."""
    manifest = corpora.read_corpora(cfg.data)
    return manifest, make_split(manifest, cfg)


def _decodable(split: protocols.Split, usable: dict) -> protocols.Split:
    """``split`` without the rows whose files could not be decoded."""
    parts = (split.train, split.valid, split.test)
    kept = [np.array([i for i in part if i in usable], dtype=np.int64) for part in parts]
    return protocols.Split(split.name, split.labels, *kept, split.info)


def prepare(
    cfg: TrainConfig,
    extractor: FeatureExtractor,
    model: nn.Module,
    encoder: nn.Module | None = None,
    split: tuple[corpora.Manifest, protocols.Split] | None = None,
) -> Prepared:
    """Decode the split's clips and compute (or read from the cache) what the model reads."""
    manifest, split = split or read_split(cfg)
    idx = np.concatenate([split.train, split.valid, split.test])
    frontend = Frontend(cfg.trim_db, cfg.level_db, cfg.trim_speech)
    clips = load_clips([manifest.rows[i] for i in idx]).through(frontend)
    ok = {r.path for r in clips.rows}
    keep = [i for i in idx if manifest.rows[i].path in ok]
    keys = dict(zip(keep, clips.keys, strict=True))  # cache keys: content (+ trimming)
    cache = ArrayCache(cfg.cache_dir or None)
    raw = dict(zip(keep, clean_features(clips.waves, clips.keys, extractor, cache), strict=True))
    split = _decodable(split, raw)
    stats = FeatureStats.fit([raw[i] for i in split.train])
    prep = Prepared(
        manifest=manifest,
        split=split,
        waves=dict(zip(keep, clips.waves, strict=True)),
        feats={i: stats.apply(f) for i, f in raw.items()},
        stats=stats,
        y={i: split.labels.index(manifest.rows[i].emotion) for i in raw},
        errors=clips.errors,
        frontend=frontend,
        class_masks=multicorpus.class_masks(manifest, split),
    )
    if encoder is not None:
        _add_encoder_inputs(prep, cfg, model, encoder, keys, cache)
    if cfg.variants > 0:
        _add_variants(prep, cfg, extractor, model, encoder, keys, cache)
    if encoder is not None and cfg.speaker_norm:
        _speaker_normalise(prep, cfg.speaker_norm, cfg.seed, cfg.speaker_norm_by)
    return prep


def _add_encoder_inputs(
    prep: Prepared, cfg: TrainConfig, model: nn.Module, encoder: nn.Module, keys: dict, cache
) -> None:
    """The encoder pathway's inputs per clip."""
    rows = list(keys)
    arrs, stats_arrs = encoder_inputs(
        model, encoder, cfg.encoder, [prep.waves[i] for i in rows], list(keys.values()), cache
    )
    prep.states = dict(zip(rows, arrs, strict=True))
    if stats_arrs is not None:
        prep.pooled = dict(zip(rows, stats_arrs, strict=True))


def _speaker_normalise(prep: Prepared, enroll: int, seed: int, by: str = "speaker") -> None:
    """Encoder statistics standardised per speaker (:func:`speaker_norm_split`); a training
    clip's copies with its speaker's clean statistics, like the clip itself, so the head
    learns what a recording condition leaves after the speaker's own statistics are removed."""
    train = list(prep.split.train)
    speakers = [getattr(prep.manifest.rows[i], by) for i in train]
    stats = speaker_stats([prep.states[i] for i in train], speakers, -1)
    if prep.state_variants is not None:
        prep.state_variants = {
            i: speaker_standardise(
                prep.state_variants[i], [spk] * len(prep.state_variants[i]), -1, stats=stats
            )
            for i, spk in zip(train, speakers, strict=True)
        }
    normed = speaker_norm_split(prep.states, prep.manifest, prep.split, enroll, seed, stats, by)
    prep.states = prep.pooled = normed


def _add_variants(
    prep: Prepared,
    cfg: TrainConfig,
    extractor: FeatureExtractor,
    model: nn.Module,
    encoder: nn.Module | None,
    keys: dict,
    cache,
) -> None:
    """``cfg.variants`` augmented copies of each training clip: features (when the model reads
    them) and encoder inputs, each computed once and cached beside the clean clip's."""
    train = list(prep.split.train)
    waves, hashes = [prep.waves[i] for i in train], [keys[i] for i in train]
    aug = replace(cfg.augment, enabled=True)
    babble = None
    if aug.p_babble > 0:
        speakers = [prep.manifest.rows[i].speaker for i in train]
        babble = Babble.of(waves, speakers, hashes)
    copies = [
        Variant(k, aug, extractor.cfg.sr, prep.frontend, babble) for k in range(1, cfg.variants + 1)
    ]
    if models.kind(cfg.model).reads_features(cfg.model_config):
        feats = [
            [
                prep.stats.apply(f)
                for f in clean_features(waves, hashes, extractor, cache, variant=v)
            ]
            for v in copies
        ]
        prep.variants = {i: [f[j] for f in feats] for j, i in enumerate(train)}
    if encoder is not None:
        states = [
            encoder_inputs(model, encoder, cfg.encoder, waves, hashes, cache, v)[0] for v in copies
        ]
        prep.state_variants = {i: [a[j] for a in states] for j, i in enumerate(train)}


def speaker_norm_split(
    arrays: dict[int, np.ndarray],
    manifest: corpora.Manifest,
    split: protocols.Split,
    enroll: int,
    seed: int,
    train_stats: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    by: str = "speaker",
) -> dict[int, np.ndarray]:
    """Speaker-standardised statistics: training speakers from all their clips (or the
    given ``train_stats``), the validation and test speakers from ``enroll`` of theirs (their
    own side only)."""
    out: dict[int, np.ndarray] = {}
    for part, n, stats in (
        (split.train, -1, train_stats),
        (split.valid, enroll, None),
        (split.test, enroll, None),
    ):
        idx = list(part)
        speakers = [getattr(manifest.rows[i], by) for i in idx]  # or their corpus
        normed = speaker_standardise([arrays[i] for i in idx], speakers, n, seed, stats)
        out.update(zip(idx, normed, strict=True))
    return out


def variant_batch(
    batch: np.ndarray, prep: Prepared, n: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """A training batch's (features, encoder inputs or None): per clip, the clean clip or one
    of its ``n`` cached augmented copies, drawn uniformly, the same for both pathways."""
    pick = rng.integers(0, n + 1, len(batch))

    def choose(clean: dict, copies: dict | None) -> list[np.ndarray]:
        return [
            clean[i] if p == 0 or copies is None else copies[i][p - 1]
            for i, p in zip(batch, pick, strict=True)
        ]

    states = choose(prep.states, prep.state_variants) if prep.states is not None else None
    return choose(prep.feats, prep.variants), states


def augmented_features(
    batch: np.ndarray,
    prep: Prepared,
    aug_cfg: AugmentConfig,
    rng: np.random.Generator,
    extractor: FeatureExtractor,
) -> list[np.ndarray]:
    """Clean cached features, except clips an augmentation changed: those are recomputed."""
    feats = [prep.feats[i] for i in batch]
    changed, waves = [], []
    for j, i in enumerate(batch):
        w = augment(prep.waves[i], aug_cfg, rng, extractor.cfg.sr)
        if w is not prep.waves[i]:
            changed.append(j)
            waves.append(prep.frontend.level(w))
    if changed:
        for j, f in zip(changed, extract(waves, extractor, batch_size=16), strict=True):
            feats[j] = prep.stats.apply(f)
    return feats
