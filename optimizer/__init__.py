"""Optimus learned optimizer, baselines, task suites and meta-training."""
