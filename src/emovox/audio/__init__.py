"""Sound in: decoding any format (:mod:`.decode`, re-exported here), speech detection
(:mod:`.vad`), the level front end, recording conditions and augmentation, mel filters.
``SAMPLE_RATE`` is the one rate everything inside emovox works at."""

from emovox.audio.decode import *  # noqa: F403 - the decoding API, as ``emovox.audio`` always was
from emovox.audio.decode import SAMPLE_RATE, AudioError, AudioLimits, load, stream  # noqa: F401
from emovox.audio.trim import trim_silence  # noqa: F401
