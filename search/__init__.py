"""Search: the CLI (``python -m search.run``), the run plan (``search.plan``) built once and
passed down, study set-up (``search.study``), sampling
(``search.sampling``), the objective (``search.objective``), multi-fidelity rungs
(``search.rungs``), confirmation, the time budget, export and the fidelity check. Uses
``spaces``, ``models``, ``runners``, ``studies`` and ``reports``; what a study records and
claims is ``studies``'."""
