"""``boundcalc validate diffusion``: self-consuming diffusion loops in torch.

Modules (torch is imported lazily, inside functions, never at import time):

* :mod:`.score_models`: the random-feature score model of Li et al. 2023 with closed-form
  gradient flow, and a small MLP score trained with Adam;
* :mod:`.ode`: probability-flow ODE sampler, its law as certified cell probabilities, and the
  exact-divergence model density;
* :mod:`.loop`: :class:`~.loop.DiffusionConfig`, the learner as a generator of the protocol
  (:class:`~.loop.DiffusionGenerator`) and one loop on the shared loop of the validators,
  measuring a_i, eps_i, TV(q_i, p0) on cells, the per-model validity gate and the chi-square
  test of the samples fed forward;
* :mod:`.options`: the inputs of an experiment (:func:`~.options.diffusion_config`);
* :mod:`.experiments`: loop, phase, early-stopping, calibrate as units and merges, and the
  single-process runner;
* :mod:`.fits`: power-law rate, D1 constants, slopes [calibrated];
* :mod:`.checks`: the validity gate, the forwarded-sample test, the recursion step, notes;
* :mod:`.result`: :class:`~.result.DiffusionValidation` and its summary text;
* :mod:`.plots`: PNG/PDF figures of each experiment.
"""
