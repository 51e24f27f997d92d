"""Run folders and model folders: the only module that spells their file names.

A run folder (``emovox train``) holds everything needed to reproduce and to predict::

    config.json  manifest.tsv  split.json  log.csv  metrics.json  report.txt  confusion.png
    checkpoints/{model,last}.{safetensors,json}   (model: the one kept; last: to resume)

Run folders written before 0.3 call the kept model ``best``; it is read under either name.

An ensemble run holds ``ensemble.json`` (members, temperature), ``config.json`` and one run
folder per member (``member0`` ...). An exported model folder (``emovox export``, the bundled
model) holds ``model.json`` and ``member{k}.{safetensors,json}``. :func:`find_model` reads any
of them (or a checkpoint stem) for both engines. Torch-free: safetensors is read as NumPy.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from emovox.store import checkpoint, integrity, legacy
from emovox.store.atomic import atomic_write, write_json
from emovox.store.cache import ArrayCache
from emovox.store.integrity import ModelError

DEFAULT_MODEL = Path(__file__).parents[1] / "default_model"  # inside the package
CHECKPOINTS = ("model", "last")  # the model the run kept (its config's select), the last epoch
_OLD_KEPT = "best"  # before 0.3 the kept model was called best whatever it held


def checked_checkpoint(name: str, what: str = "checkpoint") -> str:
    """``name`` as a checkpoint name (model or last; best read as model), else a ValueError
    naming ``what``."""
    name = "model" if name == _OLD_KEPT else name
    if name not in CHECKPOINTS:
        raise ValueError(f"{what} must be model or last, not {name!r}")
    return name


@dataclass(frozen=True)
class RunFolder:
    """Paths and small readers of one run folder (a single model or an ensemble)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    config = property(lambda self: self.root / "config.json")
    manifest = property(lambda self: self.root / "manifest.tsv")
    split = property(lambda self: self.root / "split.json")
    log = property(lambda self: self.root / "log.csv")
    metrics = property(lambda self: self.root / "metrics.json")
    report = property(lambda self: self.root / "report.txt")
    ensemble_spec = property(lambda self: self.root / "ensemble.json")
    checkpoints = property(lambda self: self.root / "checkpoints")

    def checkpoint(self, name: str = "model") -> Path:
        """A checkpoint's stem (``.safetensors`` + ``.json`` beside it); in a run folder
        written before 0.3, the kept model's old name."""
        stem = self.checkpoints / checked_checkpoint(name)
        old = self.checkpoints / _OLD_KEPT
        if stem == self.checkpoints / "model" and not stem.with_suffix(".json").exists():
            return old if old.with_suffix(".json").exists() else stem
        return stem

    def has_checkpoint(self, name: str) -> bool:
        return self.checkpoint(name).with_suffix(".json").exists()

    @property
    def is_ensemble(self) -> bool:
        return self.ensemble_spec.exists()

    @property
    def finished(self) -> bool:
        return self.metrics.exists()

    def member(self, k: int) -> RunFolder:
        return RunFolder(self.root / f"member{k}")

    def members(self) -> list[RunFolder]:
        return [RunFolder(self.root / name) for name in self.read_ensemble()["members"]]

    def fold(self, k: int) -> RunFolder:
        return RunFolder(self.root / f"fold{k}")

    def read_config(self) -> dict:
        """The saved training config (today's names)."""
        return legacy.train_config(json.loads(self.config.read_text())["train"])

    def read_metrics(self) -> dict:
        return json.loads(self.metrics.read_text())

    def read_split(self) -> dict:
        return json.loads(self.split.read_text())

    def read_ensemble(self) -> dict:
        return json.loads(self.ensemble_spec.read_text())

    def write_ensemble(self, spec: dict) -> None:
        write_json(spec, self.ensemble_spec)

    def labels(self) -> tuple[str, ...]:
        stem = (self.members()[0] if self.is_ensemble else self).checkpoint("model")
        return tuple(json.loads(stem.with_suffix(".json").read_text())["labels"])

    def cache(self) -> ArrayCache:
        """The feature cache the run was trained with."""
        return ArrayCache(self.read_config().get("cache_dir") or None)

    def report_dir(self, out: str | Path | None, checkpoint: str) -> Path:
        """Where an evaluation writes: ``out``, else the run folder for its kept model and
        ``RUN/last-checkpoint`` for the last epoch's, so the run's own reports stay the kept
        model's."""
        if out:
            return Path(out)
        return (
            self.root
            if checked_checkpoint(checkpoint) == "model"
            else self.root / "last-checkpoint"
        )


@dataclass(frozen=True)
class ModelSource:
    """What an engine loads: member checkpoint stems, the soft vote's temperature and the
    model's own "unsure" gate (None: the analysis default)."""

    path: Path
    stems: tuple[Path, ...]
    temperature: float = 1.0
    threshold: float | None = None

    def member_meta(self) -> list[dict]:
        """Each member's checkpoint metadata (today's names)."""
        return [read_meta(s) for s in self.stems]


def read_meta(stem: str | Path) -> dict:
    """A checkpoint's metadata (today's names); unreadable JSON is a ModelError."""
    path = Path(stem).with_suffix(".json")
    try:
        meta = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise ModelError(path, f"not readable checkpoint metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise ModelError(path, "checkpoint metadata must be a JSON object")
    return legacy.checkpoint_meta(meta)


def read_tensors_numpy(stem: str | Path) -> dict:
    """A checkpoint's tensors as NumPy arrays (today's names), without torch; the checksum
    its JSON records is verified first."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(stem).with_suffix(".safetensors")
    integrity.verify(path, read_meta(stem))
    try:
        return legacy.tensors(load_file(str(path)))
    except (ValueError, OSError, SafetensorError) as exc:
        raise ModelError(path, f"not a readable safetensors file ({exc})") from None


def find_model(path: str | Path | None = None) -> ModelSource:
    """An exported model folder, an ensemble run, a run folder or a checkpoint stem; default:
    the model bundled with emovox."""
    path = Path(path) if path else DEFAULT_MODEL
    run = RunFolder(path)
    if (path / "model.json").exists():
        spec = _model_spec(path)
        stems = [integrity.member_path(path, m) for m in spec["members"]]
    elif run.is_ensemble:
        spec = run.read_ensemble()
        stems = [m.checkpoint("model") for m in run.members()]
    elif run.has_checkpoint("model"):
        spec, stems = {}, [run.checkpoint("model")]
    elif path.with_suffix(".json").exists() and path.with_suffix(".safetensors").exists():
        spec, stems = {}, [path]
    else:
        integrity.refuse_pickles(path)
        raise FileNotFoundError(
            f"{path}: not a model (no model.json, ensemble.json, checkpoints/model.json or "
            "checkpoint stem)"
        )
    return ModelSource(path, tuple(stems), _temperature(path, spec), _threshold(path, spec))


def _model_spec(folder: Path) -> dict:
    """A model folder's ``model.json``, checked for what a loader relies on."""
    try:
        spec = json.loads((folder / "model.json").read_text())
    except (ValueError, OSError) as exc:
        raise ModelError(folder / "model.json", f"not readable ({exc})") from None
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("members"), list)
        or not spec["members"]
    ):
        raise ModelError(folder / "model.json", "needs a non-empty list of 'members'")
    return spec


def _temperature(path: Path, spec: dict) -> float:
    t = spec.get("temperature", 1.0)
    if not isinstance(t, int | float) or isinstance(t, bool) or not 0 < t < 1e3:
        raise ModelError(path, f"temperature must be a positive number, not {t!r}")
    return float(t)


def _threshold(path: Path, spec: dict) -> float | None:
    t = spec.get("threshold")
    if t is not None and (not isinstance(t, int | float) or isinstance(t, bool) or not 0 <= t < 1):
        raise ModelError(path, f"threshold must be a probability in [0, 1), not {t!r}")
    return None if t is None else float(t)


def export(
    run_dir: str | Path,
    out: str | Path,
    calibration: dict | None = None,
    recording_head: str | Path | None = None,
) -> Path:
    """A self-contained model folder from a run or an ensemble run: ``member{k}`` checkpoints
    (weights, feature statistics, metadata; no optimizer, no encoder weights) and
    ``model.json`` (members, temperature, labels, the training config and test metrics).
    ``calibration`` (``temperature``, ``threshold`` and how they were fitted) replaces the
    run's own temperature, fitted on its validation speakers. ``recording_head``: a
    speaker-normalised run whose members join the plain ones as the heads for speech adapted
    to its voice (:func:`emovox.models.ensemble.head_weights`). Written into a temporary
    folder, then renamed into place."""
    from safetensors.numpy import save_file

    run, out = RunFolder(run_dir), Path(out)
    spec = run.read_ensemble() if run.is_ensemble else {}
    stems = _stems(run)
    extra = _recording_head(run, stems, recording_head) if recording_head else []
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    names = []
    for k, stem in enumerate(stems + extra):
        keep = {
            n: t for n, t in read_tensors_numpy(stem).items() if n.startswith(checkpoint.PORTABLE)
        }
        meta = {key: v for key, v in read_meta(stem).items() if key not in ("optimizer", "history")}
        atomic_write(tmp / f"member{k}.safetensors", lambda p, t=keep: save_file(t, p))
        meta[integrity.CHECKSUM_KEY] = integrity.sha256_file(tmp / f"member{k}.safetensors")
        write_json(meta, tmp / f"member{k}.json", indent=1)
        names.append(f"member{k}")
    metrics = run.read_metrics()
    model_spec = {
        "members": names,
        "temperature": float(spec.get("temperature", 1.0)),
        **(calibration or {}),
        "labels": metrics["labels"],
        "train": run.read_config(),
        "metrics": {k: v for k, v in metrics.items() if k not in ("ensemble", "decode_errors")},
    }
    if extra:
        head = RunFolder(recording_head)
        model_spec["recording_head"] = {
            "members": names[len(stems) :],
            "train": head.read_config(),
            "metrics": {k: v for k, v in head.read_metrics().items() if k != "ensemble"},
        }
    write_json(model_spec, tmp / "model.json")
    tmp.chmod(0o755)
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    return out


def _stems(run: RunFolder) -> list[Path]:
    """The checkpoint stems of a run's members (one for a single run)."""
    return (
        [m.checkpoint("model") for m in run.members()]
        if run.is_ensemble
        else [run.checkpoint("model")]
    )


def _recording_head(run: RunFolder, stems: list[Path], head_dir: str | Path) -> list[Path]:
    """The stems of a speaker-normalised run to ship beside ``run``'s plain members; refused
    (naming what differs) unless the two answer the same labels from the same encoder and
    front end, ``run`` plain and the head speaker-normalised."""
    head = RunFolder(head_dir)
    extra = _stems(head)
    base, other = read_meta(stems[0]), read_meta(extra[0])
    if any(read_meta(s).get("speaker_norm") for s in stems):
        raise ValueError(f"{run.root}: already speaker-normalised; the main run is the plain one")
    if not all(read_meta(s).get("speaker_norm") for s in extra):
        raise ValueError(f"{head.root}: not speaker-normalised (train it with speaker_norm > 0)")
    for key in ("labels", "encoder", "level_db", "trim_db", "trim_speech", "feature_config"):
        if base.get(key) != other.get(key):
            raise ValueError(
                f"{head.root}: its {key} ({other.get(key)!r}) differs from {run.root}'s "
                f"({base.get(key)!r}); a recording head must read what the plain heads read"
            )
    return extra
