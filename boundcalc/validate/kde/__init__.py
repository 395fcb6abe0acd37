r"""Self-consuming Gaussian-KDE loops held against the explicit bounds (``validate kde``).

What a run does (one seed, one unit):

1. for i = 1..K, build generation i's training set from ``scheme.plan(i)`` with the one loop of
   :mod:`boundcalc.validate.loop` (blocks with the same key are the same samples);
2. fit a Gaussian KDE with bandwidth h_i (fixed, or the K3 choice for N_i samples);
3. measure on one fixed grid, against exact densities, ``a_i = TV(p_i, p0)``,
   ``eps_i = TV(p_i, q_i)``, ``TV(q_i, p0)`` and the a-posteriori bound [derived]

   .. math:: a_i \le b(h_i) + s_i + \mathrm{TV}(q_i, p_0),

   with ``b(h) = (h^2/4) ||Laplacian p0||_1`` (K1) and ``s_i`` the K2 + C2 term at the
   per-event failure probability of C3, and the composed bound
   ``B_i = b(h_i) + s_i + sum_j w_ij B_j`` (``derivations/validate-kde.md``).

Over S seeds the merge reports means and 95% intervals, the exact expected law r_i of lemma K4
with ``TV(r_i, p0)`` as the lower reference, and the checks.

Modules: :mod:`.config` (inputs, size guards), :mod:`.context` (what the seeds share: grid,
bandwidths, K4 reference), :mod:`.measure` (one seed), :mod:`.checks`, :mod:`.result`
(:class:`KDEValidation`, its table), :mod:`.experiment` (units, run_unit, merge, validate_kde).
"""

from boundcalc.validate.checks import BINOMIAL_ALPHA, RECURSION_TOLERANCE, VACUOUS_BOUND, bound_evidence
from boundcalc.validate.generators import GaussianKDE, GaussianRefit
from boundcalc.validate.kde.config import (KDEValidationConfig, MAX_BLOCK_SAMPLES, MAX_GRID_NODES, MAX_GRID_WORK,
                                           MAX_SAMPLE_WORK, MAX_TRAINING_SET)
from boundcalc.validate.kde.context import (BINNING_TV_COEFFICIENT, DEFAULT_GRID_SIZE, MASS_TOLERANCE,
                                            MIN_SCALE_IN_SPACINGS, RunContext, build_context, choose_grid,
                                            context_for, expected_laws)
from boundcalc.validate.kde.measure import BOUND_FIELDS, RUN_FIELDS, run_seed, seed_rng, training_variance
from boundcalc.validate.kde.checks import (LOWER_REFERENCE_STANDARD_ERRORS, REFERENCE_STANDARD_ERRORS, build_checks,
                                           variance_recursion)
from boundcalc.validate.kde.result import KDEValidation, summary_table
from boundcalc.validate.kde.experiment import (EXPERIMENT, RESULT_FILE, UNITS_DIR, kde_config, merge, run_unit,
                                               summarize_runs, units, validate_kde)
from boundcalc.validate.loop import LoopStep, iterate_loop
from boundcalc.validate.protocol import (FATAL_STATUSES, STATUS_EMPTY, STATUS_NON_FINITE, STATUS_OK,
                                         STATUS_ZERO_VARIANCE)

__all__ = [
    "GaussianKDE", "GaussianRefit", "KDEValidation", "KDEValidationConfig", "LoopStep", "build_context",
    "choose_grid", "expected_laws", "iterate_loop", "kde_config", "merge", "run_seed", "run_unit", "summary_table",
    "units", "validate_kde", "variance_recursion", "training_variance", "bound_evidence",
]
