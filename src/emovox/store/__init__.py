"""Files and what is in them: atomic writes, the content-addressed cache, run and model
folders, checkpoints and their integrity, dataclasses from JSON, old names. The bottom layer:
everything that writes or reads a file goes through it, and it imports nothing of emovox's."""
