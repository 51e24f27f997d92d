"""Handcrafted frame features (:mod:`.handcrafted`, at librosa parity), their numerical
kernels (:mod:`.ops`), their settings (:mod:`.config`) and statistics pooling (:mod:`.pooling`).
The torch-free standardising to a reference voice is :mod:`.standardise`."""
