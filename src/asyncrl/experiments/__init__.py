"""The loop around training: ``asyncrl tune`` (Optuna studies, :mod:`.tune`, over the search spaces of
:mod:`.space`) and ``asyncrl sweep`` (grids x seeds, :mod:`.sweep`), both running ordinary ``asyncrl train``
processes side by side (:mod:`.jobs`)."""
