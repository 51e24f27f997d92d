"""Where and how a run executes: the device, the process group under torchrun, mixed
precision, and the provenance a run records (library versions, hashes)."""

from __future__ import annotations

import hashlib
import os
import platform

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from emovox.data import corpora


def rank_and_size() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: torch.device) -> None:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def pick_device(name: str) -> torch.device:
    """``auto``: this process's GPU (torchrun's LOCAL_RANK), or the CPU when there is no GPU
    for it (NCCL runs one rank per GPU; more ranks than GPUs train on CPU with gloo)."""
    if name == "auto":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        if torch.cuda.is_available() and local_ranks <= torch.cuda.device_count():
            return torch.device("cuda", local)
        return torch.device("cpu")
    return torch.device(name)


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "off" or (amp == "auto" and device.type == "cpu"):
        return None
    if amp == "bf16":
        return torch.bfloat16
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def versions() -> dict:
    import sklearn

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
    }


def manifest_hash(manifest: corpora.Manifest) -> str:
    h = hashlib.sha256()
    for r in manifest.rows:
        h.update(f"{r.path}\t{r.emotion}\t{r.speaker}\t{r.sha1}\n".encode())
    return h.hexdigest()


def state_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
