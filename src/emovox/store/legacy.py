"""Names used before version 0.2, mapped onto today's, so old configs and checkpoints load.

Until 0.2 the pretrained-encoder pathway was called ``ssl`` (model kind ``ssl``, config keys
``ssl_layers`` / ``ssl_pool``, learning-rate group ``ssl_head``, the hybrid's ``ssl`` and
``use_ssl`` sub-config and ``model.ssl.*`` weights), the optimiser settings sat at the top of
the config, and the random protocol's split seed was called ``fold``. Every reader of a config,
a checkpoint or a model folder passes what it read through here; nothing else knows the old
names.
"""

from __future__ import annotations

_TOP_KEYS = {"ssl_layers": "encoder_layers", "ssl_pool": "encoder_pool"}
_OPTIM_KEYS = ("lr", "weight_decay", "label_smoothing", "class_weights")


def kind(name: str) -> str:
    """A model kind's current name."""
    return "encoder" if name == "ssl" else name


def _lr(rates: dict) -> dict:
    return {("encoder_head" if k == "ssl_head" else k): v for k, v in rates.items()}


def _model_config(d: dict) -> dict:
    """The hybrid's sub-config: ``ssl`` / ``use_ssl`` -> ``enc`` / ``use_enc``."""
    out = {("enc" if k == "ssl" else "use_enc" if k == "use_ssl" else k): v for k, v in d.items()}
    return out


def train_config(d: dict) -> dict:
    """A training config dict (file, ``config.json``, member override) in today's names."""
    d = {_TOP_KEYS.get(k, k): v for k, v in d.items()}
    if "model" in d:
        d["model"] = kind(d["model"])
    if isinstance(d.get("model_config"), dict):
        d["model_config"] = _model_config(d["model_config"])
    optim = dict(d.pop("optim", {}) or {})
    for key in _OPTIM_KEYS:
        if key in d:
            optim[key] = d.pop(key)
    if isinstance(optim.get("lr"), dict):
        optim["lr"] = _lr(optim["lr"])
    if optim:
        d["optim"] = optim
    if d.get("protocol") == "random" and "fold" in d:  # the random split's seed was "fold"
        fold = d.pop("fold")
        if d.get("split_seed") is None:
            d["split_seed"] = fold
    if isinstance(d.get("member_overrides"), list):
        d["member_overrides"] = [train_config(m) for m in d["member_overrides"]]
    return d


def checkpoint_meta(meta: dict) -> dict:
    """A checkpoint's JSON metadata in today's names."""
    meta = dict(meta)
    meta["model"] = kind(meta.get("model", ""))
    if isinstance(meta.get("model_config"), dict):
        meta["model_config"] = _model_config(meta["model_config"])
    if isinstance(meta.get("optimizer"), dict):
        groups = meta["optimizer"].get("param_groups", [])
        for g in groups:
            if g.get("name") == "ssl_head":
                g["name"] = "encoder_head"
    return meta


def tensor_name(name: str) -> str:
    """A checkpoint tensor's current name (``model.ssl.*`` -> ``model.enc.*``)."""
    return "model.enc." + name[len("model.ssl.") :] if name.startswith("model.ssl.") else name


def tensors(named: dict) -> dict:
    return {tensor_name(k): v for k, v in named.items()}
