"""Dataclasses built from plain dicts (config files, a model's JSON) with every unknown key
and wrong type refused by name. Torch-free: the NumPy engine checks a model's metadata with it."""

from __future__ import annotations

import dataclasses
import re
import types
import typing


def merge(base: dict, *layers: dict) -> dict:
    """``base`` with each layer on top; nested dicts merge key by key, None values are skipped."""
    out = dict(base)
    for layer in layers:
        for k, v in layer.items():
            if v is None:
                continue
            if isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = merge(out[k], v)
            else:
                out[k] = v
    return out


def _coerce(value, hint, name: str):
    """``value`` as type ``hint`` (lists become tuples where asked), or a ValueError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ValueError(f"config key {name!r} must be a mapping, got {value!r}")
        return build(hint, value, name + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), name)
    if origin in (list, tuple) and isinstance(value, list | tuple):
        item = args[0] if args else typing.Any
        items = [_coerce(v, item, f"{name}[{i}]") for i, v in enumerate(value)]
        if origin is tuple and len(args) == 2 and args[1] is not Ellipsis and len(items) != 2:
            raise ValueError(f"config key {name!r} needs two values, got {value!r}")
        return tuple(items) if origin is tuple else items
    if origin is dict and isinstance(value, dict):
        return {k: _coerce(v, args[1], f"{name}.{k}") for k, v in value.items()} if args else value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)  # YAML 1.1 (PyYAML) reads 1e-3 as a string: no dot, no float
    if hint in (int, str, bool) and type(value) is hint:
        return value
    if hint is dict and isinstance(value, dict) or hint is typing.Any:
        return value
    raise ValueError(f"config key {name!r} must be {_type_name(hint)}, got {value!r}")


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


class MissingKeys(ValueError):
    """A dict lacks keys its dataclass has no default for."""


def build(cls, d: dict, prefix: str = ""):
    """Dataclass ``cls`` from ``d``: unknown keys, wrong types and missing keys (fields
    without a default) are rejected by name."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(d) - {f.name for f in fields})
    if unknown:
        raise ValueError(f"unknown config keys: {[prefix + k for k in unknown]}")
    built = {k: _coerce(v, hints[k], prefix + k) for k, v in d.items()}
    missing = [
        prefix + f.name
        for f in fields
        if f.name not in d
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise MissingKeys(f"missing config keys: {missing}")
    return cls(**built)
