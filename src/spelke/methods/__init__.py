"""Segmentation methods: one module per method, plus shared post-processing (merge) and baselines."""
