"""Content-addressed on-disk arrays: key = hash(file content hash + config), atomic writes.

A changed file or config changes the key, so a stale entry is never read.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def default_root() -> Path:
    """``$EMOVOX_CACHE`` or ``~/.cache/emovox``."""
    return Path(os.environ.get("EMOVOX_CACHE", Path.home() / ".cache" / "emovox"))


#: an encoder converted once by the torch path, read by both engines: its folder holds these
CONVERTED_WEIGHTS, CONVERTED_CONFIG = "whisper.safetensors", "whisper.json"


def encoder_dir(name: str, encoders: Path | None = None) -> Path:
    """Where encoder ``name`` is kept once converted (``encoders``: default the cache's)."""
    return (encoders or default_root() / "encoders") / name


class ArrayCache:
    """Arrays stored as ``root/<namespace>/<key[:2]>/<key>.npy``."""

    def __init__(self, root: str | Path | None = None, namespace: str = "features") -> None:
        self.root = Path(root) if root is not None else default_root()
        self.dir = self.root / namespace

    @staticmethod
    def key(content_sha1: str, config: dict) -> str:
        blob = json.dumps({"content": content_sha1, "config": config}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        p = self._path(key)
        if not p.exists():
            return None
        try:
            return np.load(p, allow_pickle=False)
        except (ValueError, OSError):  # a damaged entry is recomputed, not trusted
            return None

    def put(self, key: str, array: np.ndarray) -> None:
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, array, allow_pickle=False)
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
