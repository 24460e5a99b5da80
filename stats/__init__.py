"""The project's statistics, in one place: the bottom of the import graph.

- ``stats.rank``: Kendall's tau (one implementation) and the tau a random order reaches;
- ``stats.intervals``: t-intervals, what an interval of a difference says (the verdict rule),
  and the smallest paired difference a number of seeds can call;
- ``stats.prediction``: how far predictions are from measurements.

Pure Python, importing neither torch nor Optuna (a latency profile is made on a device that may
have neither, ``runners.profile``); SciPy's t quantile is loaded the first time one is needed.
"""

from stats.intervals import IntervalVerdict, interval_verdict, paired_half_width, t_half_width, t_interval
from stats.prediction import check_text, prediction_errors
from stats.rank import chance_tau, kendall_tau

__all__ = [
    "IntervalVerdict", "chance_tau", "check_text", "interval_verdict", "kendall_tau",
    "paired_half_width", "prediction_errors", "t_half_width", "t_interval"
]
