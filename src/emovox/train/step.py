"""One optimisation step of the training loop: the forward under autocast (mixup of pooled
statistics, the corpus adversary), the scaled backward, the clipped update."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from emovox.models.inputs import model_inputs


@dataclass
class Step:
    """One optimisation step: forward under autocast, scaled backward, clipped update."""

    net: nn.Module  # the model, or its DDP wrapper
    model: nn.Module
    loss_fn: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    device: torch.device
    mixup: float = 0.0  # Beta(mixup, mixup) weights of pooled-statistics mixup; 0: none
    adversary: tuple | None = None  # (CorpusAdversary, its optimiser, corpus index per clip)

    @property
    def kwargs(self) -> dict:
        """The model's auxiliary arousal / valence outputs, when it has those heads."""
        return {"with_dimensions": True} if self.model.predicts_dimensions else {}

    def __call__(self, feats, states, target: list[int], allowed=None, batch=None) -> float:
        """One step on a batch; ``allowed`` (batch, classes) bool: each clip's corpus's labels."""
        inputs = model_inputs(self.model, feats, states, self.device)
        y = torch.tensor(target, device=self.device)
        extra = () if allowed is None else (torch.from_numpy(allowed).to(self.device),)
        with torch.autocast(
            self.device.type,
            dtype=self.amp_dtype or torch.float32,
            enabled=self.amp_dtype is not None,
        ):
            mix = self.mixed(inputs, y, extra) if self.mixup else None
            if mix is not None:
                inputs, lam, y2, extra2 = mix
            out = self.net(**inputs, **self.kwargs)
            out = tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()
            loss = self.loss_fn(out, y, *extra)
            if mix is not None:
                loss = lam * loss + (1 - lam) * self.loss_fn(out, y2, *extra2)
            if self.adversary is not None:
                branch, _, corpus_of = self.adversary
                loss = loss + branch.loss(torch.tensor(corpus_of[batch], device=self.device))
        self.opt.zero_grad(set_to_none=True)
        if self.adversary is not None:
            self.adversary[1].zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.scaler.step(self.opt)
        if self.adversary is not None:
            self.scaler.step(self.adversary[1])
        self.scaler.update()
        self.sched.step()
        return float(loss.detach())

    def mixed(self, inputs: dict, y: torch.Tensor, extra: tuple):
        """Mixup of pooled statistics with a shuffled partner: (inputs, weight, partner
        labels, partner's allowed labels); None for models that read no pooled statistics."""
        if inputs.get("pooled") is None:
            return None
        lam = float(torch.distributions.Beta(self.mixup, self.mixup).sample())
        perm = torch.randperm(len(y), device=y.device)
        pooled = lam * inputs["pooled"] + (1 - lam) * inputs["pooled"][perm]
        return {**inputs, "pooled": pooled}, lam, y[perm], tuple(e[perm] for e in extra)
