"""The notebook-first functions of the public API: :func:`bound`, :func:`solve`, :func:`phase`,
:func:`optimum`, :func:`lemma`, :func:`lemmas` (re-exported flat by :mod:`boundcalc`).

They take the value objects (schemes of :mod:`boundcalc.model.schemes`, learners of
:mod:`boundcalc.bounds.learners`) rather than names and option strings, use the command line's
defaults (10 generations, delta = 0.05), and return the result objects of
:mod:`boundcalc.bounds.result`, which print the command line's tables.

References: [Fu24] Fu, Zhang, Luo, Wang, Wang, "Towards Theoretical Understandings of
Self-Consuming Generative Models", ICML 2024.  [Li23] Li, Wang, Ye, "On the Generalization
Properties of Diffusion Models", NeurIPS 2023.
"""

from __future__ import annotations

from boundcalc._checks import BoundcalcError, check, check_optional
from boundcalc.bounds.learners import DIFFUSION_DELTA_EXPONENT, Learner
from boundcalc.bounds.result import BoundResult, OptimumResult, PhaseResult, SolveResult
from boundcalc.model.schemes import Accumulate, Mix, Replace, Schedule, Scheme

#: the defaults of the public functions, which are the defaults of ``boundcalc bound``
DEFAULT_GENERATIONS = check("generations", 10)
DEFAULT_DELTA = 0.05


def _need(kind: str, value, cls):
    if not isinstance(value, cls):
        raise BoundcalcError(f"{kind} must be a {cls.__name__} (for example "
                             + ("boundcalc.Mix(n_real=1000, n_synth=3000)" if cls is Scheme else
                                "boundcalc.PowerLaw(C=1, alpha=0.25) or boundcalc.KDE('bimodal')")
                             + f"), got {value!r}")
    return value


def bound(scheme: Scheme, learner: Learner, generations: int = DEFAULT_GENERATIONS,
          delta=DEFAULT_DELTA) -> BoundResult:
    r"""Bounds :math:`a_1, \dots, a_K` on :math:`a_i = \mathrm{TV}(p_i, p_0)` of a self-consuming loop.

    The recursion (lemmas T2 and T1, [derived] from [Fu24]) is iterated exactly:

    .. math::

        a_1 \le \varepsilon_1, \qquad a_i \le \varepsilon_i + \sum_{j<i} w_{ij}\, a_j,

    with :math:`w_{ij}` the weight of :math:`p_j` in the training law :math:`q_i` of the scheme and
    :math:`\varepsilon_i` the learner's one-generation error at the training-set size :math:`N_i`
    (the KDE's at the failure level of lemma C3).  Closed forms are attached where they exist.

    Parameters
    ----------
    scheme : Replace, Mix, Accumulate or Schedule
        What each generation trains on.
    learner : PowerLaw, KDE or Diffusion
        The per-generation error model.
    generations : int, default 10
        K >= 1.
    delta : float, default 0.05
        Failure probability of the whole K-generation statement, in (0, 1).

    Returns
    -------
    BoundResult
        Prints the table of ``boundcalc bound``; ``.final`` is a_K.

    Examples
    --------
    >>> import boundcalc as bc
    >>> r = bc.bound(bc.Mix(n_real=1000, n_synth=3000), bc.PowerLaw(C=1, alpha=0.25), generations=5)
    >>> round(float(r.final), 6)
    0.400095
    >>> r.lemma_ids
    ['T1', 'T2', 'S1', 'S3']
    """
    _need("scheme", scheme, Scheme)
    _need("learner", learner, Learner)
    from boundcalc.bounds.compose import compose_bound
    from boundcalc.bounds.grid import grid_bound, is_grid
    if not scheme.unknowns and is_grid(scheme):  # sizes as integer arrays: the grid path
        return grid_bound(scheme, learner, check("generations", generations), check("delta", delta))
    if scheme.unknowns:
        raise BoundcalcError(f"{scheme!r} leaves {', '.join(scheme.unknowns)} unknown (None): give a value, "
                             "or use boundcalc.solve to solve for it")
    return compose_bound(scheme, learner, check("generations", generations), check("delta", delta))


def solve(target, scheme: Scheme, learner: Learner, generations=DEFAULT_GENERATIONS, delta=DEFAULT_DELTA,
          max_generations: int | None = None) -> SolveResult:
    r"""Solve for the one unknown so that the final bound meets ``target``: :math:`a_K \le` target.

    In the style of statsmodels' ``solve_power``: leave exactly one quantity unknown, as ``None``.

    * ``n_real=None`` in the scheme: the smallest integer n_real;
    * ``n_synth=None``: the smallest integer n_synth (a scan, then bisection: the bound need not be
      monotone in n_synth, see :func:`phase`);
    * ``Mix.fraction(None, n_total=N)``: the smallest real fraction :math:`\lambda = r/N` of a
      per-generation budget N (r an integer count of real samples);
    * ``generations=None``: the largest K with :math:`a_k \le` target for every :math:`k \le K`.

    Every answer is substituted back into the bound (``result.verified``, ``result.checks``); an
    unreachable target is reported with the floor of the bound that prevents it.

    Parameters
    ----------
    target : float
        Level for a_K, in (0, 1] (TV is at most 1).
    scheme : Replace, Mix, Accumulate or Schedule
        With at most one size field ``None``.
    learner : PowerLaw, KDE or Diffusion
    generations : int or None, default 10
        K, or ``None`` to solve for it.
    delta : float, default 0.05
    max_generations : int, optional
        Search limit when solving for K (default 10000; 64 for the KDE).

    Returns
    -------
    SolveResult

    Examples
    --------
    >>> import boundcalc as bc
    >>> r = bc.solve(0.1, bc.Mix(n_real=None, n_synth=1000), bc.PowerLaw(C=1, alpha=0.25))
    >>> r.value, r.verified
    (12580, True)
    >>> bc.solve(0.5, bc.Replace(n_real=1000, n_synth=1000), bc.PowerLaw(C=1, alpha=0.25),
    ...          generations=None).value
    2
    """
    from boundcalc.bounds import solve as S
    _need("scheme", scheme, Scheme)
    _need("learner", learner, Learner)
    unknowns = list(scheme.unknowns) + (["generations"] if generations is None else [])
    if len(unknowns) != 1:
        raise BoundcalcError("solve needs exactly one unknown (None in the scheme, or generations=None); got "
                             + (", ".join(unknowns) if unknowns else "none") + f" in {scheme!r}, "
                             f"generations={generations!r}")
    unknown = unknowns[0]
    target = check("target", target)
    delta = check("delta", delta)
    generations = None if generations is None else check("generations", generations)
    max_generations = check_optional("max_generations", max_generations)
    if unknown != "generations" and max_generations is not None:
        raise BoundcalcError("max_generations applies when solving for generations (generations=None)")
    common = dict(generations=generations, delta=delta, max_generations=max_generations)
    if isinstance(scheme, Schedule):
        return S.solve(unknown.replace("_", "-"), target, learner, scheme="schedule", n_real=scheme.n_real,
                       real_fractions=scheme.real_fractions, sizes=scheme.sizes, draw=scheme.draw, **common)
    if unknown == "real_fraction":
        budget = scheme.n_total_budget
        inputs = {"scheme": "mix", "generations": generations, "n_total": budget, "real_data": scheme.real_data,
                  "delta": delta, "learner": learner.to_dict(), "target": target}
        half = budget // 2
        return S._fraction_solve(target, learner, "mix", generations, half, budget - half, scheme.real_data,
                                 delta, inputs, draw=scheme.draw)
    fields = dict(n_real=scheme.n_real, n_synth=scheme.n_synth, real_data=getattr(scheme, "real_data", "fresh"),
                  draw=getattr(scheme, "draw", "stratified"))
    return S.solve(unknown.replace("_", "-"), target, learner, scheme=scheme.name, **fields, **common)


def phase(learner: Learner, n_real, generation: int = 2, previous_tv=None, n_synth_before=None,
          delta=DEFAULT_DELTA, draw: str = "stratified") -> PhaseResult:
    r"""The phase transition in the amount of synthetic data at generation I of ``mix`` [derived, reproduces Fu24].

    With :math:`n_{\mathrm{real}}` real samples and s synthetic samples of :math:`p_{I-1}`,

    .. math::

        f(s) = \varepsilon(n_{\mathrm{real}} + s) + \frac{s}{n_{\mathrm{real}} + s}\, a_{I-1}.

    For :math:`\varepsilon(N) = C N^{-\alpha}`, :math:`0 < \alpha < 1`, f rises on :math:`[0, s^*]` and
    falls towards :math:`a_{I-1}` after it, :math:`s^* = (a_{I-1} n_{\mathrm{real}}/(\alpha C))^{1/(1-\alpha)}
    - n_{\mathrm{real}}`, iff :math:`a_{I-1} > \alpha C n_{\mathrm{real}}^{-\alpha}`; other learners are
    maximised numerically.  A peak at or above 1 is reported as vacuous (TV <= 1 always).

    Parameters
    ----------
    learner : PowerLaw, KDE or Diffusion
    n_real : int
        Real samples, >= 1.
    generation : int, default 2
        I >= 2.
    previous_tv : float, optional
        :math:`a_{I-1}` given directly, in [0, 1] (excludes ``n_synth_before``).
    n_synth_before : int, optional
        Synthetic samples in generations 2..I-1 used to compute :math:`a_{I-1}` (default n_real).
    delta : float, default 0.05
    draw : "stratified" or "iid", default "stratified"
        How the mix training sets are drawn (the diffusion learner is covered by lemma D1 only for "iid").

    Examples
    --------
    >>> import boundcalc as bc
    >>> r = bc.phase(bc.PowerLaw(C=1, alpha=0.2), n_real=1000)
    >>> r.exists, round(float(r.threshold) / 1000, 6)
    (True, 6.476744)
    >>> bc.phase(bc.PowerLaw(C=1, alpha=0.2), n_real=1000, previous_tv=1).vacuous
    True
    """
    from boundcalc.bounds.phase import phase_transition
    _need("learner", learner, Learner)
    return phase_transition(learner, n_real, generation, previous_tv=previous_tv,
                            n_synth_before=n_synth_before, delta=delta, draw=draw)


def optimum(quantity: str, n=10_000, *, width=None, width_ratio=None, c_stat=1.0, c_width=1.0, c_opt=1.0,
            p0="bimodal", delta=DEFAULT_DELTA, generations=1, delta_exponent=DIFFUSION_DELTA_EXPONENT) -> OptimumResult:
    r"""The optimal early-stopping time :math:`\tau^*` (lemma D2, [Li23]) or KDE bandwidth :math:`h^*`
    (lemma K3, [classical]) for n training samples.

    .. math::

        \tau^* = \arg\min_{\tau \ge 1} \frac{c_{\mathrm{stat}}\tau^4}{m n} + \frac{c_{\mathrm{width}}\tau^3}{m^2}
        + \frac{c_{\mathrm{opt}}}{\tau}, \qquad
        h^* = \arg\min_h \frac{h^2}{4}\|\Delta p_0\|_1 + \frac12 (4\pi)^{-d/4} (n h^d)^{-1/2} J(h).

    Parameters
    ----------
    quantity : {"tau", "bandwidth"}
    n : int, default 10000
    width, width_ratio : float, optional
        tau: the width m, or m = width_ratio * n (default ratio 1); not both.
    c_stat, c_width, c_opt : float
        tau: the constants of lemma D1 at ell = 1.
    delta, generations, delta_exponent : float, int, float (defaults 0.05, 1, 2)
        tau: the failure probability delta of a run of K = ``generations`` generations; the optimum is
        taken for one statement at ``delta_i = delta / K`` (lemma C3), whose constants are those of lemma D4:
        c_stat and c_width times ``ell(delta_i)^k_delta``, ``ell(d) = max(1, ln(1/d^2))``, k_delta =
        ``delta_exponent`` (0: the constants as given).  The same tau* as ``bound`` with the diffusion learner
        for the same N, delta and K (its terms' ``tau``); K = 1 is a single training run.
    p0 : str or GaussianMixture, default "bimodal"
        bandwidth: the target.

    Examples
    --------
    >>> import boundcalc as bc
    >>> r = bc.optimum("tau", 10_000, c_width=0, delta_exponent=0)
    >>> round(float(r.value), 4) == round((10_000 * 10_000 / 4) ** 0.2, 4)
    True
    >>> import math
    >>> ell = 2 * math.log(1 / 0.05)  # max(1, ln(1/delta^2)) at delta_i = 0.05 / 1
    >>> r = bc.optimum("tau", 10_000, c_width=0, delta=0.05)
    >>> round(float(r.value), 4) == round((10_000 * 10_000 / (4 * ell ** 2)) ** 0.2, 4)
    True
    """
    from boundcalc.bounds.solve import optimum as _optimum
    quantity = check("quantity", quantity)
    n = check("n", n)
    if quantity == "tau":
        if p0 != "bimodal":
            raise BoundcalcError("p0 applies to the bandwidth optimum, not to tau")
        if width is not None and width_ratio is not None:
            raise BoundcalcError("give width (m) or width_ratio (m = ratio * n), not both")
        return _optimum("tau", n, width=check_optional("width", width),
                        width_ratio=1.0 if width_ratio is None else check("width_ratio", width_ratio),
                        c_stat=check("c_stat", c_stat), c_width=check("c_width", c_width), c_opt=check("c_opt", c_opt),
                        delta=check("delta", delta), generations=check("generations", generations),
                        delta_exponent=check("delta_exponent", delta_exponent))
    if (width is not None or width_ratio is not None or (c_stat, c_width, c_opt) != (1.0, 1.0, 1.0)
            or (delta, generations, delta_exponent) != (DEFAULT_DELTA, 1, DIFFUSION_DELTA_EXPONENT)):
        raise BoundcalcError("width, width_ratio, c_stat/c_width/c_opt and delta/generations/delta_exponent apply to "
                             "the tau optimum, not to bandwidth")
    return _optimum("bandwidth", n, target=p0)


def lemma(lemma_id: str):
    """One lemma or theorem of the catalogue by id (``"K2"``; a prime may be written ``"K1'"``).

    >>> import boundcalc as bc
    >>> bc.lemma("K1'").id, bc.lemma("K2").provenance
    ('K1p', '[derived]')
    """
    from boundcalc.theory.catalogue import get_lemma
    return get_lemma(str(lemma_id).replace("'", "p"))


def lemmas() -> list:
    """Every lemma and theorem of the catalogue, in catalogue order.

    >>> import boundcalc as bc
    >>> "D1" in [l.id for l in bc.lemmas()]
    True
    """
    from boundcalc.theory.catalogue import all_lemmas
    return list(all_lemmas())


__all__ = ["bound", "solve", "phase", "optimum", "lemma", "lemmas", "Replace", "Mix", "Accumulate", "Schedule"]
