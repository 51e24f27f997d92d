"""Checkpoints as safetensors + JSON: tensors in one file, config and metadata in the other.

Nothing is pickled, so a checkpoint from anywhere can be opened safely. Both files are written
to temporary names and renamed, so a run killed mid-write leaves the previous checkpoint whole;
the JSON records the tensor file's SHA-256, checked on load (:mod:`emovox.store.integrity`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from emovox.store import integrity, legacy
from emovox.store.atomic import atomic_write, write_json

if TYPE_CHECKING:
    import torch

# The layout of a checkpoint's tensor file, spelled here only: the model's state under
# ``model.``, the feature standardisation beside it, the optimiser's state under ``optim.``
# (resume checkpoints only). A model folder keeps the first two (``PORTABLE``).
MODEL_PREFIX = "model."
FEATURE_STATS = ("feature_mean", "feature_std")
OPTIM_PREFIX = "optim."
PORTABLE = (MODEL_PREFIX, "feature_")


def pack_model(state_dict: dict) -> dict:
    """A model's state as checkpoint tensors."""
    return {f"{MODEL_PREFIX}{k}": v for k, v in state_dict.items()}


def model_state(tensors: dict) -> dict:
    """The model's state from checkpoint tensors (what :func:`pack_model` packed)."""
    n = len(MODEL_PREFIX)
    return {k[n:]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}


def save(stem: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write ``stem.safetensors`` and ``stem.json`` (JSON last: it marks the pair complete and
    holds the tensor file's checksum)."""
    from safetensors.torch import save_file

    stem = Path(stem)
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    digest: list[str] = []

    def write(tmp: str) -> None:
        save_file(flat, tmp)
        digest.append(integrity.sha256_file(tmp))

    atomic_write(stem.with_suffix(".safetensors"), write)
    write_json({**meta, integrity.CHECKSUM_KEY: digest[0]}, stem.with_suffix(".json"), indent=1)


def load(stem: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint pair written by :func:`save` (older names translated), its checksum
    verified first; an unreadable pair is a :class:`emovox.store.integrity.ModelError`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    stem = Path(stem)
    meta_path, tensor_path = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    if not meta_path.exists() or not tensor_path.exists():
        raise FileNotFoundError(
            f"{stem}: checkpoint needs both {tensor_path.name} and {meta_path.name}"
        )
    try:
        meta = legacy.checkpoint_meta(json.loads(meta_path.read_text()))
        integrity.verify(tensor_path, meta)
        return legacy.tensors(load_file(str(tensor_path))), meta
    except integrity.ModelError:
        raise
    except (ValueError, OSError, AttributeError, TypeError, SafetensorError) as exc:
        raise integrity.ModelError(stem, f"not a readable checkpoint ({exc})") from None


def optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state as flat tensors plus JSON-able hyper-parameters."""
    import torch

    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            t = v if torch.is_tensor(v) else torch.tensor(v)
            tensors[f"{OPTIM_PREFIX}{pid}.{k}"] = t
    return tensors, {"param_groups": sd["param_groups"]}


def optimizer_from_flat(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict
) -> None:
    state: dict[int, dict] = {}
    for name, t in tensors.items():
        if name.startswith(OPTIM_PREFIX):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = t
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
