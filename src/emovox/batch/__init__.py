"""Archives on Ray Data: ``emovox batch``. Inputs are planned as a stream (:mod:`.plan`), read
and hashed in CPU tasks, analysed in an actor pool that loads the model once per actor (the
package's own :class:`~emovox.infer.analyzer.Analyzer`), and written as Parquet parts the
moment they are made (:mod:`.output`); a rerun skips what is written. :mod:`.pipeline` is the
only module that imports Ray."""

INSTALL = "emovox batch needs Ray Data: pip install 'emovox[ray]'"


def require(ray: bool = True) -> None:
    """A RuntimeError saying how to install what ``emovox batch`` needs, if it is missing
    (Arrow for planning and output; Ray Data to run)."""
    import importlib

    for name in ("pyarrow", "ray.data") if ray else ("pyarrow",):
        try:
            importlib.import_module(name)
        except ImportError:
            raise RuntimeError(INSTALL) from None
