"""Search: the CLI (``python -m search.run``), study set-up, the objective, the
Pareto front and export. Uses ``spaces``, ``models``, ``runners`` and ``reports``."""
