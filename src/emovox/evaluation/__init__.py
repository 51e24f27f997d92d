"""Scoring finished runs: metrics and reports, runs and ensembles on their test side,
permutation importance of the handcrafted features."""
