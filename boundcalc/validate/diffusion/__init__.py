"""``boundcalc validate diffusion``: self-consuming diffusion loops in torch (issue 5).

Modules (torch is imported lazily, inside functions, never at import time):

* :mod:`.score_models`: the random-feature score model of Li et al. 2023 with closed-form
  gradient flow, and a small MLP score trained with Adam;
* :mod:`.ode`: probability-flow ODE sampler, its law as certified cell probabilities, and the
  exact-divergence model density;
* :mod:`.loop`: one loop on the shared scheme module, measuring a_i, eps_i, TV(q_i, p0) on cells,
  the per-model validity gate and the chi-square test of the samples fed forward;
* :mod:`.experiments`: loop, phase, early-stopping, calibrate; resume state; summary text;
* :mod:`.plots`: PNG/PDF figures of each experiment.
"""
