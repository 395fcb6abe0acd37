"""boundcalc: a symbolic bound calculator for self-consuming generative models.

It implements the theory of Fu et al. (ICML 2024, "Towards Theoretical Understandings of
Self-Consuming Generative Models") and the diffusion-model result it builds on (Li et al.,
NeurIPS 2023): a catalogue of lemmas (sympy statements with assumptions and provenance),
their composition across generations for each data-mixing scheme, solvers for sample sizes,
real fractions and generation counts, and the phase transition in the amount of synthetic data.

The symbolic path never imports torch; the empirical validators live in
:mod:`boundcalc.validate` and import torch only when a diffusion loop is run.
"""

from boundcalc.bounds.compose import closed_form, compose_bound
from boundcalc._checks import BoundcalcError
from boundcalc.bounds.learners import Diffusion, GaussianKDE, PowerLaw, make_learner
from boundcalc.theory.catalogue import all_lemmas, get_lemma
from boundcalc.theory.lemma import Lemma
from boundcalc.bounds.phase import phase_transition
from boundcalc.bounds.result import BoundResult, OptimumResult, PhaseResult, SolveResult
from boundcalc.model.schemes import Accumulate, Block, GenerationPlan, Mix, Replace, Schedule, make_scheme
from boundcalc.bounds.solve import optimal_bandwidth, optimal_tau, optimum, solve
from boundcalc.model.targets import GaussianMixture, bimodal, normal, parse_target

__version__ = "0.1.0"

__all__ = [
    "Accumulate", "Block", "BoundResult", "BoundcalcError", "Diffusion", "GaussianKDE",
    "GaussianMixture", "GenerationPlan", "Lemma", "Mix", "OptimumResult", "PhaseResult", "PowerLaw", "Replace",
    "Schedule", "SolveResult", "all_lemmas", "bimodal", "closed_form", "compose_bound",
    "get_lemma", "make_learner", "make_scheme", "normal", "optimal_bandwidth", "optimal_tau", "optimum",
    "parse_target", "phase_transition", "solve", "__version__",
]
