"""What makes a model file trustworthy enough to open: checksums, names inside their folder,
and no pickles.

emovox reads only safetensors and JSON. Each checkpoint's JSON carries the SHA-256 of its
tensor file, checked before a tensor is read, so a damaged or altered file is refused instead
of loaded. Member names in a model folder must stay inside it. A folder holding only pickled
weights (``.pt``, ``.bin``, ...) is refused with what to do instead.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHECKSUM_KEY = "tensors_sha256"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt")


class ModelError(ValueError):
    """A model file or folder that emovox will not use; ``path`` and ``cause`` say why."""

    def __init__(self, path: str | Path, cause: str) -> None:
        super().__init__(f"{path}: {cause}")
        self.path, self.cause = str(path), cause


def sha256_file(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify(tensor_path: str | Path, meta: dict) -> None:
    """Refuse ``tensor_path`` when its SHA-256 differs from the one its JSON records (files
    written before checksums existed carry none and are read as they are)."""
    want = meta.get(CHECKSUM_KEY)
    if want is not None and sha256_file(tensor_path) != want:
        raise ModelError(
            tensor_path,
            "checksum mismatch: the tensor file is not the one its JSON was written with "
            "(damaged or altered); re-export or re-download the model",
        )


def member_path(folder: Path, name: object) -> Path:
    """``folder / name`` for a member name from a model folder's own JSON, refused when it
    is not a plain name (absolute, ``..`` or a sub-path could read files outside the folder)."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise ModelError(folder, f"member name {name!r} is not a plain file name in the folder")
    return folder / name


def refuse_pickles(path: Path) -> None:
    """A clear refusal for a folder (or file) of pickled weights: emovox never unpickles."""
    found = [path] if path.suffix in PICKLE_SUFFIXES else []
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if found:
        raise ModelError(
            path,
            f"holds pickled weights ({found[0].name}) and no emovox model (safetensors + "
            "JSON); emovox never unpickles files: export the model as safetensors",
        )
