"""Benchmarks (``BENCHMARKS.md``): scripts run from the repository root as
``python -m bench.NAME``; ``bench.ranking``, ``bench.multifidelity_setup`` and
``bench.multifidelity_stats`` are the parts several of them share."""
