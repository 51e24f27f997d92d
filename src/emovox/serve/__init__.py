"""The HTTP service and its web page (``emovox serve``)."""
