"""Pictures at every length: drawn from an analysis whose truth is set (the first half angry,
the second sad), then read back as pixels."""

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest

from emovox.infer import plots
from emovox.infer.palette import colour
from emovox.infer.timeline import Segment

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)

LABELS = ("angry", "happy", "neutral", "sad")


def _view(duration: float) -> plots.View:
    """Speech 3 s of every 4, angry in the first half, sad in the second, unsure now and then."""
    segs = []
    for k, start in enumerate(np.arange(0.5, duration - 1.0, 4.0)):
        emotion = None if k % 7 == 6 else "angry" if start < duration / 2 else "sad"
        probs = dict.fromkeys(LABELS, 0.1) | ({emotion: 0.7} if emotion else {})
        reason = None if emotion else "unsure"
        segs.append(Segment(float(start), float(start + 3.0), emotion, 0.7, probs, reason))
    times = np.arange(0.0, duration, 0.1) + 0.05
    covered = np.zeros(len(times), bool)
    grid = np.zeros((len(times), len(LABELS)))
    for s in segs:
        sel = (times >= s.start) & (times < s.end)
        covered[sel] = True
        grid[sel] = [s.probabilities[lab] for lab in LABELS]
    env = np.abs(np.sin(np.arange(int(duration * 100)) / 7.0)) * 0.3
    return plots.View(
        LABELS, duration, segs, "unsure: top probability 0.35 < threshold 0.40", "test.flac",
        env, 100.0, [(s.start, s.end) for s in segs], times, grid, covered,
        dict.fromkeys(LABELS, 0.25),
    )  # fmt: skip


def _nearest(pixel: np.ndarray) -> str:
    rgb = {k: np.array(matplotlib.colors.to_rgb(colour(k))) for k in ("angry", "sad")}
    return min(rgb, key=lambda k: np.abs(rgb[k] - pixel[:3]).sum())


@pytest.mark.parametrize("duration", [4.0, 60.0, 600.0, 7200.0])
def test_pictures_at_every_length_show_where_each_emotion_is(duration, tmp_path):
    path = tmp_path / "t.png"
    plots.draw(path, _view(duration))
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 1200 and image[..., :3].std() > 0.05
    if duration <= plots.DETAIL_SECONDS:
        return
    # the overview's stacked area: at a quarter of the time angry holds the most colour,
    # at three quarters sad (rows in the middle of the overview panel)
    h, w = image.shape[:2]
    band = image[int(0.25 * h) : int(0.55 * h)]
    left, right = (
        band[:, int(0.05 * w) + int(0.2 * 0.8 * w)],
        band[:, int(0.05 * w) + int(0.6 * 0.8 * w)],
    )
    count = lambda col, k: sum(_nearest(p) == k and p[:3].std() > 0.1 for p in col)  # noqa: E731
    assert count(left, "angry") > count(left, "sad") and count(right, "sad") > count(right, "angry")


@pytest.mark.slow
def test_every_input_gets_a_picture_from_the_command(tmp_path, ravdess_manifest):
    import emovox

    model = emovox.load_model()
    noise = (0.05 * np.random.default_rng(0).standard_normal(16000 * 5)).astype(np.float32)
    import soundfile as sf

    sf.write(tmp_path / "noise.wav", noise, 16000)
    for source in (ravdess_manifest.rows[3].path, tmp_path / "noise.wav"):
        out = tmp_path / f"{len(list(tmp_path.glob('*.png')))}.png"
        model.predict(source, plot=out)
        assert matplotlib.image.imread(out).shape[1] > 1200
