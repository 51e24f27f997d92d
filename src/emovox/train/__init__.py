"""Training: the typed config, a run's data, the loop, ensembles and cross-validation, devices
and processes. The loop is
:func:`emovox.train.loop.train`."""
