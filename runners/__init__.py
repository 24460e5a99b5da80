"""Runners: proxy datasets, the brief trainer, measurement (``runners.measure``, timed by the
torch-free ``runners.timing``), latency profiles of a target device (``runners.profile``), and
full training of an exported architecture. Knows nothing of Optuna."""
