"""Empirical validators: real self-consuming loops held against the bounds.

Kept free of heavy imports: ``boundcalc.validate.kde`` (numpy/scipy) and the diffusion
validator (torch, imported lazily) are loaded only when used.

* :mod:`boundcalc.validate.grid`: grids, exact densities and TV by quadrature on a grid;
* :mod:`boundcalc.validate.report`: summaries over seeds, checks, table, progress bar, state files;
* :mod:`boundcalc.validate.kde`: Gaussian-KDE loops against the explicit bounds of docs/theory.md section 5;
* :mod:`boundcalc.cli.validate_kde`: the ``boundcalc validate kde`` sub-command.
"""
