"""Runners: proxy datasets, the brief trainer, and measurement. Knows nothing of Optuna."""
