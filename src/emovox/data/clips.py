"""Manifest rows -> waveforms and cached clean features; batches for training.

Unaugmented features are cached on disk (key: file content + feature config); augmented clips
are recomputed on the fly, batched, because each epoch draws new augmentations. What a frozen
encoder computes is too costly for that: it is cached for the clean clip and for a fixed set
of augmented copies (``Variant``), which training picks from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from emovox import audio
from emovox.audio.augment import AugmentConfig, augment
from emovox.audio.decode import SAMPLE_RATE
from emovox.audio.frontend import Frontend
from emovox.data.corpora import Utterance
from emovox.features.handcrafted import FeatureConfig, FeatureExtractor, extract
from emovox.features.standardise import mean_std
from emovox.store.cache import ArrayCache


@dataclass
class Clips:
    """Decoded clips of a manifest: waveforms (16 kHz float32), and the rows that failed."""

    waves: list[np.ndarray]
    rows: list[Utterance]
    errors: list[tuple[str, str]]
    frontend: Frontend = Frontend()  # what the waves have been through (none: as decoded)

    @property
    def keys(self) -> list[str]:
        """Per clip, what caches are keyed by: the file's content hash, plus the front end."""
        return [r.sha1 + self.frontend.tag if r.sha1 else "" for r in self.rows]

    def through(self, frontend: Frontend) -> Clips:
        """These clips as ``frontend`` gives them to a model (trimmed, levelled), once, from
        the decoded files."""
        if frontend == self.frontend:
            return self
        if self.frontend != Frontend():
            raise ValueError(f"clips already through {self.frontend}, asked for {frontend}")
        return Clips([frontend(w) for w in self.waves], self.rows, self.errors, frontend)


def load_clips(rows: Sequence[Utterance], sr: int = SAMPLE_RATE) -> Clips:
    """Decode each row; a bad file is reported in ``errors`` and left out, never fatal."""
    waves, good, errors = [], [], []
    for r in rows:
        try:
            waves.append(audio.load(r.path, sr=sr))
            good.append(r)
        except audio.AudioError as exc:
            errors.append((r.path, exc.cause))
    return Clips(waves, good, errors)


def clean_features(
    waves: Sequence[np.ndarray],
    hashes: Sequence[str],
    extractor: FeatureExtractor,
    cache: ArrayCache | None = None,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
    variant: Variant | None = None,
) -> list[np.ndarray]:
    """Features of unaugmented clips (or of a ``variant``'s copies), read from / written to
    ``cache`` by content hash."""

    def compute(batch: list[np.ndarray]) -> list[np.ndarray]:
        return extract(batch, extractor, batch_size)

    return _cached_per_clip(
        waves, hashes, extractor.cfg.to_dict(), compute, cache, batch_size * 8, variant, progress
    )


def collate(feats: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad (frames, dims) arrays to (batch, max_frames, dims) plus a validity mask."""
    n = max(len(f) for f in feats)
    x = torch.zeros(len(feats), n, feats[0].shape[1])
    mask = torch.zeros(len(feats), n, dtype=torch.bool)
    for i, f in enumerate(feats):
        x[i, : len(f)] = torch.from_numpy(f)
        mask[i, : len(f)] = True
    return x, mask


@dataclass(frozen=True)
class Babble:
    """Other speakers' clips that babble noise is made of: per clip, its speaker's are left
    out. ``digest`` names the set (cached copies made from another set are other copies)."""

    waves: tuple[np.ndarray, ...]
    speakers: tuple[str, ...]
    speaker_of: dict[str, str]  # clip key -> speaker
    digest: str

    @classmethod
    def of(cls, waves: Sequence[np.ndarray], speakers: Sequence[str], keys: Sequence[str]):
        digest = hashlib.sha1("\n".join(sorted(keys)).encode()).hexdigest()[:16]
        return cls(tuple(waves), tuple(speakers), dict(zip(keys, speakers, strict=True)), digest)

    def others(self, key: str) -> list[np.ndarray]:
        spk = self.speaker_of.get(key)
        return [w for w, s in zip(self.waves, self.speakers, strict=True) if s != spk]


@dataclass(frozen=True)
class Variant:
    """The k-th augmented copy (k >= 1) of every clip: a fixed function of the clip's content,
    k, the augmentation config (and babble set), so it can be cached like the clean clip. The
    copy then goes through the front end's loudness step, as every input of the model does."""

    k: int
    augment: AugmentConfig
    sr: int = SAMPLE_RATE
    frontend: Frontend = Frontend()
    babble: Babble | None = field(default=None, compare=False)

    def key(self) -> dict:
        key = {"variant": self.k, "augment": self.augment.to_dict()}
        return {**key, "babble": self.babble.digest} if self.babble else key

    def apply(self, wave: np.ndarray, key: str) -> np.ndarray:
        seed = int(key[:16], 16) if key else 0
        pool = self.babble.others(key) if self.babble else None
        rng = np.random.default_rng([self.k, seed])
        return self.frontend.level(augment(wave, self.augment, rng, self.sr, pool))


def _cached_per_clip(
    waves: Sequence[np.ndarray],
    hashes: Sequence[str],
    key_cfg: dict,
    compute: Callable[[list[np.ndarray]], list[np.ndarray]],
    cache: ArrayCache | None,
    batch_size: int,
    variant: Variant | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """One array per clip: read from ``cache`` by content hash + ``key_cfg``, or computed by
    ``compute`` on length-sorted batches of the missing clips and written back. With a
    ``variant``, of that augmented copy of each clip (augmented only when not cached).
    ``progress`` is told how many clips each step settled."""
    if variant is not None:
        key_cfg = {**key_cfg, **variant.key()}
    keys = [ArrayCache.key(h, key_cfg) if h else "" for h in hashes]
    out: list[np.ndarray | None] = [cache.get(k) if cache is not None and k else None for k in keys]
    todo = sorted((i for i, s in enumerate(out) if s is None), key=lambda i: len(waves[i]))
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        batch = [waves[i] if variant is None else variant.apply(waves[i], hashes[i]) for i in chunk]
        for i, arr in zip(chunk, compute(batch), strict=True):
            out[i] = arr
            if cache is not None and keys[i]:
                cache.put(keys[i], arr)
        if progress:
            progress(len(chunk))
    if progress and len(todo) < len(out):
        progress(len(out) - len(todo))
    return out  # type: ignore[return-value]


def encoder_states(
    waves: Sequence[np.ndarray],
    hashes: Sequence[str],
    frames_model: torch.nn.Module,
    split: int,
    encoder_id: str,
    cache: ArrayCache | None = None,
    batch_size: int = 8,
    variant: Variant | None = None,
) -> list[np.ndarray]:
    """Hidden states 0..split of the frozen encoder per clip, (split + 1, frames, d) float16.

    Cached on disk by file content, encoder identity and split layer (and ``variant``), so an
    epoch (and every ensemble member) reads them instead of running the frozen layers again.
    """

    def compute(batch: list[np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            states, smask = frames_model.states(batch, upto=split)
        n = smask.sum(dim=1)
        return [
            torch.stack([s[j, : n[j]] for s in states]).to(torch.float16).cpu().numpy()
            for j in range(len(batch))
        ]

    key_cfg = {"encoder": encoder_id, "split": split, "dtype": "float16", "v": 2}  # as below
    return _cached_per_clip(waves, hashes, key_cfg, compute, cache, batch_size, variant)


def encoder_pooled(
    waves: Sequence[np.ndarray],
    hashes: Sequence[str],
    frames_model: torch.nn.Module,
    encoder_id: str,
    cache: ArrayCache | None = None,
    batch_size: int = 8,
    variant: Variant | None = None,
) -> list[np.ndarray]:
    """Mean and std over valid frames of every hidden state, (n_layers + 1, 2 * d) float32.

    What a frozen encoder pathway with statistics pooling reads: computed once per clip and
    cached (file content + encoder), so training a head, an ensemble member or a layer
    ablation never runs the encoder again.
    """
    from emovox.features.pooling import layer_stats

    def compute(batch: list[np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            states, smask = frames_model.states(batch)
            return list(layer_stats(states, smask).cpu().numpy())  # (layers, 2d) each

    # v2: batched stems fixed for odd frame counts (see WhisperFrames.forward)
    key_cfg = {"encoder": encoder_id, "pool": "meanstd", "dtype": "float32", "v": 2}
    return _cached_per_clip(waves, hashes, key_cfg, compute, cache, batch_size, variant)


def speaker_stats(
    arrays: Sequence[np.ndarray], speakers: Sequence[str], enroll: int, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each speaker's (mean, std) over ``enroll`` of their clips (drawn with ``seed``; all of
    them when ``enroll`` < 0 or the speaker has fewer)."""
    rng = np.random.default_rng(seed)
    by: dict[str, list[int]] = {}
    for i, spk in enumerate(speakers):
        by.setdefault(spk, []).append(i)
    out = {}
    for spk in sorted(by):
        idx = by[spk]
        ref = idx if enroll < 0 or enroll >= len(idx) else sorted(rng.choice(idx, enroll, False))
        out[spk] = mean_std(np.stack([arrays[i] for i in ref]))
    return out


def speaker_standardise(
    arrays: Sequence[np.ndarray],
    speakers: Sequence[str],
    enroll: int,
    seed: int = 0,
    stats: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[np.ndarray]:
    """Each clip's array standardised with its speaker's :func:`speaker_stats` (or the given
    ones). Speaker adaptation from unlabelled clips: it removes what is constant per voice."""
    stats = stats or speaker_stats(arrays, speakers, enroll, seed)
    return [
        ((a - stats[spk][0]) / stats[spk][1]).astype(np.float32)
        for a, spk in zip(arrays, speakers, strict=True)
    ]


def collate_states(states: Sequence[np.ndarray]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Pad (layers, frames, d) arrays to a list of (batch, max_frames, d) float32 + mask."""
    n_layers, _, d = states[0].shape
    t = max(s.shape[1] for s in states)
    x = torch.zeros(n_layers, len(states), t, d)
    mask = torch.zeros(len(states), t, dtype=torch.bool)
    for i, s in enumerate(states):
        x[:, i, : s.shape[1]] = torch.from_numpy(s.astype(np.float32))
        mask[i, : s.shape[1]] = True
    return list(x.unbind(0)), mask


def write_feature_table(
    out: Path, clips: Clips, feats: list[np.ndarray], cfg: FeatureConfig
) -> Path:
    """``out/features.npz`` (every clip's frames stacked, with offsets, paths, emotions,
    speakers and column names), ``manifest.tsv`` and ``features.json`` (the feature config,
    column ranges and the files that could not be decoded); returns the ``.npz`` path."""
    from emovox.data.corpora import Manifest
    from emovox.store.atomic import atomic_write, write_json

    out.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0] + [len(f) for f in feats])
    table = {
        "features": np.concatenate(feats),
        "offsets": offsets,
        "paths": np.array([r.path for r in clips.rows]),
        "emotions": np.array([r.emotion for r in clips.rows]),
        "speakers": np.array([r.speaker for r in clips.rows]),
        "feature_names": np.array([f"{g}{i}" for g, n in cfg.dims().items() for i in range(n)]),
    }

    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
            np.savez(f, **table)

    atomic_write(out / "features.npz", save)
    Manifest(clips.rows, []).write_tsv(out / "manifest.tsv")
    slices = {g: [s.start, s.stop] for g, s in cfg.slices().items()}
    write_json(
        {"feature_config": cfg.to_dict(), "slices": slices, "errors": clips.errors},
        out / "features.json",
    )
    return out / "features.npz"
