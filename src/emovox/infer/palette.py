"""One colour per emotion (and for "unsure", "no speech", speech bands, speakers S1-S4),
shared by the timeline pictures and the web page: ``palette.json`` is the one source, served
to the page."""

from __future__ import annotations

import functools
import json
from pathlib import Path

PALETTE_FILE = Path(__file__).with_name("palette.json")
_SPARE = ("#bcbd22", "#17becf", "#aec7e8", "#98df8a", "#ff9896", "#c5b0d5")


@functools.cache
def _palette() -> dict[str, str]:
    return json.loads(PALETTE_FILE.read_text())


def colour(label: str | None) -> str:
    """The colour of ``label`` (None: unsure); a label the palette lacks gets a stable spare."""
    table = _palette()
    key = label or "unsure"
    if key in table:
        return table[key]
    return _SPARE[sum(map(ord, key)) % len(_SPARE)]


def palette() -> dict[str, str]:
    return dict(_palette())
