"""The corpus adversary reverses its gradient, and mixup mixes pairs of pooled statistics."""

import pytest
import torch
from torch import nn

from ..configs import TINY_MODEL, _cfg, _tiny_encoder_cfg  # noqa: F401

pytestmark = pytest.mark.slow  # the file's tier (tests/README.md)


def test_the_corpus_adversary_reverses_its_gradient_and_mixup_mixes_pairs(subset, tmp_path):
    """The gradient-reversal branch sends the model the opposite of its own corpus gradient
    (scaled by its weight); mixup mixes pooled statistics convexly with a partner's."""
    from emovox.models.loading import load_encoder
    from emovox.train import recipe
    from emovox.train.adversary import CorpusAdversary
    from emovox.train.step import Step

    torch.manual_seed(0)
    cfg = _tiny_encoder_cfg(subset, tmp_path)
    model = recipe.build_model(cfg, 10, 8, load_encoder("whisper-tiny"))
    model.eval()  # no dropout: the two passes below see the same vector
    branch = CorpusAdversary(model, 3, weight=0.5)
    pooled = torch.randn(6, 3, 2 * 384)
    corpus = torch.tensor([0, 1, 2, 0, 1, 2])
    model(None, None, None, None, pooled)
    branch.loss(corpus).backward()
    reversed_grad = model.enc.mlp[1].weight.grad.clone()
    model.zero_grad()
    model(None, None, None, None, pooled)
    nn.functional.cross_entropy(branch.net(branch.seen), corpus).backward()
    assert torch.allclose(reversed_grad, -0.5 * model.enc.mlp[1].weight.grad, atol=1e-6)
    assert reversed_grad.abs().sum() > 0
    step = Step(None, model, None, None, None, None, None, torch.device("cpu"), mixup=0.4)
    assert step.mixed({"feats": None}, torch.zeros(2), ()) is None  # nothing pooled to mix
    y = torch.arange(6)
    inputs, lam, y2, _ = step.mixed({"pooled": pooled}, y, ())
    mixed = inputs["pooled"]
    partner = pooled[y2]  # labels are row numbers here: y2 names each row's partner
    assert torch.allclose(mixed, lam * pooled + (1 - lam) * partner, atol=1e-6)
