r"""The derivation document as a list of nodes, in reading order.

:func:`document_nodes` builds the content once (sections, paragraphs of mini-Markdown with
``$...$`` math, display formulas, lemma and theorem blocks, tables); :mod:`boundcalc.document.render`
renders it as LaTeX and as Markdown.  Order of the document (the order a reader needs): notation,
the loop and its schemes, the lemmas by family (divergence algebra, concentration, kernel density
estimation, diffusion models; lemmas of other families follow), the composition theorem with its
closed form per scheme, the explicit KDE loop, the phase transition in the amount of synthetic data,
early stopping and what it implies for the loop, and a provenance table.  Lemma statements,
hypotheses, provenance and source come from the catalogue
(:func:`boundcalc.theory.catalogue.all_lemmas`) at run time; proof sketches come from the
``## Proof`` section of each lemma's derivation file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from boundcalc.document.derivations import proof_of
from boundcalc.document.macros import symbol_table, sympy_latex

_OBJECTS = [  # (LaTeX, meaning): the objects of the loop, not sympy symbols
    (r"p_0", "the real data distribution (with density $p_0$)"),
    (r"p_i", "the distribution produced by the model of generation $i$"),
    (r"q_i", "the population law of generation $i$'s training set"),
    (r"a_i = \TV(p_i, p_0)", "what every bound controls"),
    (r"\varepsilon_i = \TV(p_i, q_i)", "one-generation learning error"),
    (r"\varphi_h", r"the density of $\mathcal{N}(0, h^2 I_d)$"),
]


@dataclass
class Node:
    kind: str  # section, subsection, para, display, lemma, theorem, table, raw
    title: str = ""
    label: str = ""
    text: str = ""
    items: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)


_FAMILIES = [("T", "Divergence algebra"), ("GTV", "Divergence algebra"), ("C", "Concentration"),
             ("K", "Kernel density estimation"), ("D", "Diffusion models")]


def _family(lemma_id: str) -> str:
    for prefix, name in _FAMILIES:
        if lemma_id == prefix or (len(prefix) == 1 and re.fullmatch(prefix + r"\d+p?", lemma_id)):
            return name
    return "Further lemmas"


_FAMILY_INTRO = {
    "Divergence algebra": (
        "Identities and inequalities for the total-variation distance "
        r"$\mathrm{TV}(P, Q) = \tfrac12 \int |p - q|$ and its relation to the Kullback-Leibler divergence. "
        "They carry a bound from one generation to the next."),
    "Concentration": ("How far a random quantity strays from its mean, and how many statements can "
                      "hold at once: the probability $1 - \\delta$ of every result comes from here."),
    "Kernel density estimation": (
        "A Gaussian kernel density estimate (KDE) is a learner whose one-generation error has explicit "
        "constants: a bias term that shrinks with the bandwidth and a stochastic term that shrinks with "
        "the sample size."),
    "Diffusion models": (
        "The random-feature score model of Li et al. (2023), its early-stopping optimum, and one "
        "generation of such a model inside a loop. The hidden factors of the original bound are named "
        "constants; conclusions drawn with their default values describe the shape of the bound only."),
    "Further lemmas": "Lemmas of the catalogue that belong to none of the families above.",
}


def _lemma_order_key(lemma) -> tuple:
    from boundcalc.bounds.compose import _ORDER
    families = [name for _, name in _FAMILIES] + ["Further lemmas"]
    pos = _ORDER.index(lemma.id) if lemma.id in _ORDER else len(_ORDER)
    return (families.index(_family(lemma.id)), pos, lemma.id)


def _closed_form_templates() -> dict:
    """The authored closed forms that :func:`boundcalc.bounds.compose.closed_form` attaches to results, for
    the power-law learner (what ``boundcalc bound --latex`` prints), by scheme."""
    from boundcalc.bounds.compose import closed_form
    from boundcalc.bounds.learners import PowerLaw
    from boundcalc.model.schemes import make_scheme
    learner, out = PowerLaw(1.0, 0.25), {}
    for name in ("replace", "mix", "accumulate"):
        try:
            form = closed_form(make_scheme(name, n_real=1000, n_synth=500), learner, 5)
        except Exception:  # noqa: BLE001 - the document must build even if one scheme changes
            form = None
        if form is not None:
            out[name] = (form.latex(), form.where, sympy_latex(form.expr, macros=False), form.expr)
    return out


def document_nodes() -> list[Node]:
    """The content of the derivation document, in reading order."""
    from boundcalc.theory.catalogue import all_lemmas
    lemmas = sorted(all_lemmas(), key=_lemma_order_key)
    nodes: list[Node] = []
    add = nodes.append

    add(Node("para", text=(
        "This document collects, in the order a reader needs them, the mathematics that boundcalc "
        "implements: the notation, the self-consuming loop and its data-mixing schemes, every lemma of "
        "the catalogue with its hypotheses, provenance and a proof sketch, the composition theorem for "
        "each scheme, the phase transition in the amount of synthetic data and the early-stopping "
        "result. It is generated from the code (`boundcalc latex`): statements are the catalogue's "
        "authored templates, proof sketches come from the files in `derivations/`, where every step is "
        "spelled out and tied to the test that checks it.")))
    add(Node("para", text=(
        "Provenance labels: **[Li23]** a result read in Li, Li, Zhang and Bian, *On the Generalization "
        "Properties of Diffusion Models* (NeurIPS 2023); **[Fu24]** a claim of Fu, Zhang, Wang, Tian and "
        "Tao, *Towards Theoretical Understandings of Self-Consuming Generative Models* (ICML 2024), whose "
        "theorem statements and constants were not available, so every result about the loop is "
        "re-derived here and reproduces the claim; **[classical]** a textbook result, cited in its "
        "derivation; **[derived]** derived for this project, proved in `derivations/` and machine-checked. "
        "A bound whose constants are fitted to data is called calibrated, never proved.")))

    # --- notation -------------------------------------------------------------------------
    add(Node("section", "Notation", "sec:notation"))
    add(Node("para", text=(
        "Every shared symbol has one macro, defined once in the preamble of this document; the table "
        "lists the macro, the symbol, its meaning and the range of values boundcalc accepts.")))
    add(Node("table", items=[["macro", "symbol", "meaning", "valid range"]] + [
        [f"`\\{macro}`", f"${tex}$", meaning, f"${rng}$" if rng else ""]
        for _, macro, tex, meaning, rng in symbol_table()], extra={"widths": [0.16, 0.14, 0.48, 0.17]}))
    add(Node("para", text="The objects of the loop:"))
    add(Node("table", items=[["object", "meaning"]] + [[f"${tex}$", meaning] for tex, meaning in _OBJECTS],
             extra={"widths": [0.3, 0.65]}))
    add(Node("para", text=(
        r"Total variation is $\mathrm{TV}(P, Q) = \sup_A |P(A) - Q(A)| = \tfrac12 \int |p - q|$, a metric "
        r"with values in $[0, 1]$: a bound larger than 1 is vacuous.")))

    # --- the loop -----------------------------------------------------------------------------
    add(Node("section", "The loop and its data-mixing schemes", "sec:schemes"))
    add(Node("para", text=(
        r"Generation 1 is trained on $n_{\mathrm{real}}$ real samples, so $N_1 = n_{\mathrm{real}}$ and "
        r"$q_1 = p_0$. Generation $i \ge 2$ is trained on a set whose population law $q_i$ mixes $p_0$ "
        r"with earlier outputs, as follows (`boundcalc/schemes.py` is the one definition used by both "
        r"the bounds and the experiments).")))
    add(Node("table", items=[
        ["scheme", "training set of generation $i \\ge 2$", "$N_i$", "$q_i$"],
        ["`replace`", r"$n_{\mathrm{synth}}$ samples of $p_{i-1}$", r"$n_{\mathrm{synth}}$", r"$p_{i-1}$"],
        ["`mix`", r"$n_{\mathrm{real}}$ real and $n_{\mathrm{synth}}$ samples of $p_{i-1}$",
         r"$n_{\mathrm{real}} + n_{\mathrm{synth}}$", r"$\lambda p_0 + (1-\lambda) p_{i-1}$, $\lambda = n_{\mathrm{real}}/N_i$"],
        ["`accumulate`", r"$n_{\mathrm{real}}$ real and $n_{\mathrm{synth}}$ samples of every $p_j$, $j < i$",
         r"$n_{\mathrm{real}} + (i-1) n_{\mathrm{synth}}$", r"$\big(n_{\mathrm{real}} p_0 + n_{\mathrm{synth}} \sum_{j<i} p_j\big)/N_i$"],
        ["`schedule`", r"given $\lambda_i$ and $N_i$", r"$N_i$", r"$\lambda_i p_0 + (1-\lambda_i) p_{i-1}$"],
    ], extra={"widths": [0.14, 0.33, 0.2, 0.28]}))
    add(Node("para", text=(
        "In `mix` and `accumulate` the real data is either fresh (new real samples at every generation) "
        "or reused (one real set for all generations); the two need different concentration arguments "
        "([[sec:kde-loop]]).")))

    # --- lemmas --------------------------------------------------------------------------------
    add(Node("section", "Lemmas", "sec:lemmas"))
    add(Node("para", text=(
        "Each lemma gives its statement (the authored template of the catalogue), its hypotheses as the "
        "code states them, its provenance, a proof sketch taken from its derivation file, and its source.")))
    family = None
    for lemma in lemmas:
        if _family(lemma.id) != family:
            family = _family(lemma.id)
            add(Node("subsection", family, "sec:fam-" + re.sub(r"\W", "", family.lower())))
            add(Node("para", text=_FAMILY_INTRO[family]))
        proof = proof_of(lemma)  # MissingProofError when the file is not installed
        add(Node("lemma", lemma.title, f"lem:{lemma.id}", text=lemma.latex, items=list(lemma.hypotheses),
                 extra={"id": lemma.id, "provenance": lemma.provenance, "source": lemma.source,
                        "proof": proof.text, "numeric": proof.numeric, "derivation": lemma.derivation}))

    _composition_nodes(add)
    _phase_nodes(add)
    _early_stopping_nodes(add)

    add(Node("section", "Provenance of the catalogue", "sec:provenance"))
    add(Node("table", items=[["lemma", "provenance", "derivation", "source"]] + [
        [f"[[{l.id}]]", l.provenance, f"`{l.derivation}`", l.source] for l in lemmas],
        extra={"widths": [0.15, 0.16, 0.24, 0.4]}))  # the derivation column holds a whole path
    return nodes


def _composition_nodes(add):
    forms = _closed_form_templates()
    add(Node("section", "Composition across generations", "sec:composition"))
    add(Node("para", text=(
        r"Write $a_i = \mathrm{TV}(p_i, p_0)$ and $\varepsilon_i = \mathrm{TV}(p_i, q_i)$. The lemmas above "
        r"turn one-generation errors into a bound on the last generation. The proofs are in "
        r"`derivations/composition.md`; every closed form is checked by substituting it back into the "
        r"recursion.")))
    add(Node("theorem", "Recursion", "thm:recursion", text=(
        r"a_1 \le \varepsilon_1, \qquad a_i \le \varepsilon_i + \mathrm{TV}(q_i, p_0) \quad (i \ge 2),"),
        items=[r"`mix`, `schedule`: $\mathrm{TV}(q_i, p_0) = (1-\lambda_i)\, a_{i-1}$;",
               r"`accumulate`: $\mathrm{TV}(q_i, p_0) \le \frac{n_{\mathrm{synth}}}{N_i} \sum_{j<i} a_j$;",
               r"`replace`: $\mathrm{TV}(q_i, p_0) = a_{i-1}$."],
        extra={"provenance": "[derived]", "proof": (
            "The triangle inequality [[T2]] splits $a_i$ at $q_i$. For `mix` and `schedule`, "
            r"$q_i - p_0 = (1-\lambda_i)(p_{i-1} - p_0)$ pointwise, which is the mixture identity [[T1]]; "
            "`replace` is the case $\\lambda_i = 0$. For `accumulate`, $q_i - p_0$ is a weighted sum of the "
            "$p_j - p_0$ and convexity (the corollary of [[T1]]) gives the inequality. The coefficients of "
            "the recursion are nonnegative, so the sequence defined with equality dominates every sequence "
            "that satisfies the inequalities (induction): each closed form below solves the recursion "
            "with equality and therefore bounds $a_K$.")}))
    add(Node("theorem", "Replace: linear growth", "thm:replace", text=r"a_K \le \sum_{i=1}^{K} \varepsilon_i",
             extra={"provenance": "[derived]", "proof": (
                 "Unroll $a_i \\le \\varepsilon_i + a_{i-1}$. At a fixed training-set size the bound grows "
                 "linearly in $K$.")}))
    add(Node("theorem", "Mix with a constant real fraction: bounded error [Fu24]", "thm:mix", text=(
        r"a_K \le (1-\lambda)^{K-1} \varepsilon_1 + \frac{1-(1-\lambda)^{K-1}}{\lambda}\, \varepsilon "
        r"\le \max\Big(\varepsilon_1, \frac{\varepsilon}{\lambda}\Big)"),
        items=[r"$\lambda_i = \lambda \in (0, 1]$ and $\varepsilon_i = \varepsilon$ for $i \ge 2$."],
        extra={"provenance": "[derived]", "proof": (
            r"The right side solves $A_K = \varepsilon + (1-\lambda) A_{K-1}$, $A_1 = \varepsilon_1$. With "
            r"$\theta = (1-\lambda)^{K-1} \in (0, 1]$ it equals $\theta \varepsilon_1 + (1-\theta)\varepsilon/\lambda$, "
            r"a convex combination: the error stays controlled for every $K$ when the real fraction is "
            r"bounded away from zero, and tends to $\varepsilon/\lambda$.")}))
    add(Node("theorem", "Accumulate: logarithmic growth", "thm:accumulate", text=(
        r"a_K \le \varepsilon H_K = \varepsilon \sum_{i=1}^{K} \frac{1}{i} \approx \varepsilon (\ln K + 0.5772)"),
        items=[r"$n_{\mathrm{synth}} = n_{\mathrm{real}}$, so $N_i = i\, n_{\mathrm{real}}$, and $\varepsilon_i = \varepsilon$ for all $i$."],
        extra={"provenance": "[derived]", "proof": (
            r"The recursion reads $A_i = \varepsilon + \frac1i \sum_{j<i} A_j$. The identity "
            r"$\sum_{j=1}^{m} H_j = (m+1) H_m - m$ gives $\varepsilon + \frac1i \varepsilon (i H_{i-1} - (i-1)) = "
            r"\varepsilon H_i$. For $K = 50$, $H_{50} = 4.4992$.")}))
    add(Node("theorem", "Final-generation rescue [Fu24]", "thm:rescue", text=(
        r"a_K \le \varepsilon + (1-\lambda_K)(K-1)\,\varepsilon, \qquad \lambda_K \ge \frac{K-1}{K} "
        r"\ \Rightarrow\ a_K < 2\varepsilon"),
        items=[r"Generations $2, \dots, K-1$ are fully synthetic, generation $K$ has real fraction "
               r"$\lambda_K$; $\varepsilon_i = \varepsilon$."],
        extra={"provenance": "[derived]", "proof": (
            r"By [[thm:replace]], $a_{K-1} \le (K-1)\varepsilon$; one step of the `mix` recursion "
            r"adds $\varepsilon$ and multiplies by $1 - \lambda_K$. A real share of order $(i-1)/i$ at the "
            r"last generation is what keeps the error at the level of one generation.")}))
    add(Node("theorem", "Growing sample sizes in replace", "thm:growth", text=(
        r"N_i = N_1\, i^{1/\alpha + s},\ s > 0 \ \Rightarrow\ a_K \le C N_1^{-\alpha} \zeta(1 + \alpha s); "
        r"\qquad K\, C N^{-\alpha} \le \varepsilon^\star \iff N \ge (K C/\varepsilon^\star)^{1/\alpha}"),
        items=[r"$\varepsilon(N) = C N^{-\alpha}$ with $C, \alpha > 0$."],
        extra={"provenance": "[derived]", "proof": (
            r"With the growing sizes, $C N_i^{-\alpha} = C N_1^{-\alpha} i^{-1-\alpha s}$, a convergent "
            r"series. With one common size $N$, the `replace` bound $K C N^{-\alpha}$ meets a target "
            r"$\varepsilon^\star$ only if $N$ grows like $K^{1/\alpha}$: $K^4$ for $\alpha = 1/4$ (the "
            r"quartic growth reported by [Fu24]) and $K^5$ for the early-stopped diffusion rate after "
            r"Pinsker ([[sec:early-stopping]]). The growth follows from the learner's rate.")}))
    if forms:
        add(Node("subsection", "The closed forms boundcalc prints", "sec:printed-forms"))
        add(Node("para", text=(
            r"For the power-law learner $\varepsilon(N) = C N^{-\alpha}$ (generation 1 trains on "
            r"$n_{\mathrm{real}}$ samples) `boundcalc bound --latex` prints, per scheme, the authored "
            r"closed form below; the second line is sympy's printing of the same expression, which the "
            r"calculator evaluates.")))
        for name, (template, where, printed, _expr) in forms.items():
            add(Node("para", text=f"`{name}`:" + (f" with ${where}$," if where else "")))
            add(Node("display", text=template))
            add(Node("display", text="a_K \\le " + printed, extra={"sympy": True}))


def _phase_nodes(add):
    add(Node("section", "The loop with a Gaussian KDE", "sec:kde-loop"))
    add(Node("theorem", "Explicit per-generation error of a KDE loop", "thm:kde-loop", text=(
        r"a_i \le \underbrace{\tfrac{h^2}{4} \|\Delta p_0\|_1}_{b(h)} + s_i + \mathrm{TV}(q_i, p_0), \qquad "
        r"s_i \le \tfrac12 \Big[(4\pi)^{-d/4} (N_i h^d)^{-1/2} J_i + \sqrt{2 \ln(K/\delta)/N_i}\Big]"),
        items=[r"Gaussian kernel of bandwidth $h$; given the past, the $N_i$ samples of a fresh training "
               r"set are independent; $J_i = \int \sqrt{q_i * \varphi_{h/\sqrt2}}$.",
               "The bound on $s_i$ holds for all $K$ generations together with probability at least "
               r"$1 - \delta$."],
        extra={"provenance": "[derived]", "proof": (
            r"Split $a_i$ twice with [[T2]]: at $q_i * \varphi_h$ and at $p_0 * \varphi_h$. Convolution "
            r"contracts TV ([[T3]]), so the middle term is at most $\mathrm{TV}(q_i, p_0)$; the bias is half "
            r"of [[K1]]; the stochastic term is half of [[K2]] plus the deviation of [[C2]], each at level "
            r"$\delta/K$ ([[C3]]). With reused real data the estimate splits into its real and synthetic "
            r"parts; the real part is one random variable shared by all generations and is bounded once. "
            r"For unseen $q_i$ the a-priori calculator evaluates $J_i$ at the expected training law of [[K4]]: "
            r"an assumption that every result lists.")}))

    add(Node("section", "Phase transition in the amount of synthetic data", "sec:phase"))
    add(Node("theorem", "Phase transition [Fu24]", "thm:phase", text=(
        r"f(s) = C (n_{\mathrm{real}} + s)^{-\alpha} + \frac{s}{n_{\mathrm{real}} + s}\, a_{i-1}, \qquad "
        r"s^* = \Big(\frac{a_{i-1}\, n_{\mathrm{real}}}{\alpha C}\Big)^{1/(1-\alpha)} - n_{\mathrm{real}}"),
        items=[r"Generation $i$ of `mix` with $n_{\mathrm{real}}$ fixed and $s = n_{\mathrm{synth}}$ varied; "
               r"$\varepsilon(N) = C N^{-\alpha}$ with $C > 0$, $0 < \alpha < 1$.",
               r"A transition ($s^* > 0$) exists iff $a_{i-1} > \alpha C n_{\mathrm{real}}^{-\alpha}$: then $f$ "
               r"rises on $[0, s^*]$, falls after $s^*$, and tends to $a_{i-1}$ from above.",
               r"At generation 2 ($a_1 = C n_{\mathrm{real}}^{-\alpha}$): $s^* = (\alpha^{-1/(1-\alpha)} - 1)\, "
               r"n_{\mathrm{real}}$; $\alpha = 1/5$ gives $s^* = (5^{5/4} - 1)\, n_{\mathrm{real}} "
               r"\approx 6.4767\, n_{\mathrm{real}}$."],
        extra={"provenance": "[derived]", "proof": (
            r"$f'(s) = N^{-2}\big(a_{i-1} n_{\mathrm{real}} - \alpha C N^{1-\alpha}\big)$ with "
            r"$N = n_{\mathrm{real}} + s$. The bracket decreases strictly in $N$ for $0 < \alpha < 1$, so $f'$ "
            r"changes sign at most once, from $+$ to $-$, at $N^*$; $s^* > 0$ iff the existence condition holds. "
            r"Finally $f(s) - a_{i-1} = N^{-1}(C N^{1-\alpha} - n_{\mathrm{real}} a_{i-1})$ is eventually "
            r"positive and tends to 0. For learners that are not a power law the root of $f'$ is located "
            r"numerically and the threshold, the peak and the limit are reported. Details in "
            r"`derivations/phase-transition.md`.")}))


def _early_stopping_nodes(add):
    add(Node("section", "Early stopping and the diffusion loop", "sec:early-stopping"))
    add(Node("theorem", "Early-stopping optimum [Li23]", "thm:early-stopping", text=(
        r"\tau^* = \Big(\frac{c_{\mathrm{opt}}\, m n}{4 c_{\mathrm{stat}}}\Big)^{1/5} \ (c_{\mathrm{width}} = 0), "
        r"\qquad m \propto n:\ \tau^* = \Theta(n^{2/5}),\ \ \min_\tau \mathrm{KL} \lesssim n^{-2/5} + m^{-4/5}"),
        items=[r"The $\tau$-dependent part of [[D1]], $g(\tau) = c_{\mathrm{stat}} \tau^4/(m n) + "
               r"c_{\mathrm{width}} \tau^3/m^2 + c_{\mathrm{opt}}/\tau$, minimised over $\tau \ge 1$."],
        extra={"provenance": "[Li23, derived]", "proof": (
            r"$\tau^2 g'(\tau) = 4 c_{\mathrm{stat}} \tau^5/(m n) + 3 c_{\mathrm{width}} \tau^4/m^2 - c_{\mathrm{opt}}$ "
            r"increases strictly in $\tau$, so the root is unique and the minimiser over $\tau \ge 1$ is the "
            r"larger of 1 and that root ([[D2]]); with $c_{\mathrm{width}} > 0$ it is found by Newton's method (monotone from the right, the slope being convex) and "
            r"checked by substitution.")}))
    add(Node("theorem", "Diffusion model in the loop", "thm:diffusion-loop", text=(
        r"\varepsilon_i \le \min\Big(\sqrt{\mathrm{KL}_i/2},\ \sqrt{1 - e^{-\mathrm{KL}_i}}\Big), \qquad "
        r"\varepsilon(N) \asymp N^{-1/5} \ \Rightarrow\ N \gtrsim K^5 \text{ for } K \varepsilon(N) \le \varepsilon^\star "
        r"\text{ in } \texttt{replace}"),
        items=[r"[[D1]] holds for every training law $q_i$ with the same constants (an idealisation: a "
               r"diffusion output has Gaussian tails); $\mathrm{KL}_i$ is the [[D1]] bound at $n = N_i$."],
        extra={"provenance": "[derived]", "proof": (
            r"Apply [[D1]] at $n = N_i$ with the early-stopped $\tau^*$, convert KL to TV with the better of "
            r"Pinsker ([[T4]]) and Bretagnolle-Huber ([[T4']]) ([[D3]]), and compose with "
            r"[[thm:recursion]]. At the early-stopped rate $\mathrm{KL} \asymp N^{-2/5}$, Pinsker gives "
            r"$\varepsilon \asymp N^{-1/5}$, and [[thm:growth]] turns this into the $K^5$ growth "
            r"of a fully synthetic loop.")}))

