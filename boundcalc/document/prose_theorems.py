r"""FALLBACK ONLY: the composition theorems as prose, for a catalogue that lacks their objects.

The document renders every theorem from its catalogue object (:mod:`boundcalc.theory`, kind
``"theorem"``), exactly like a lemma: statement, hypotheses, provenance, source and the proof from its
derivation file (:data:`boundcalc.document.content.THEOREM_SLOTS` says which object fills which place).
The prose below is used for a place only while the catalogue holds no object with that id; once the
objects exist this module is dead text and may be deleted (``tests/test_export.py`` fails when a
fallback is used although the catalogue has theorems).
"""

from __future__ import annotations

from boundcalc.document.nodes import Node


def fallback_theorem(label: str) -> Node | None:
    """The prose theorem of the document place ``label`` (``"thm:recursion"``, ...), or None."""
    builder = _FALLBACK.get(label)
    return builder() if builder else None


def _recursion() -> Node:
    return Node("theorem", "Recursion", "thm:recursion", text=(
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
            "with equality and therefore bounds $a_K$.")})


def _replace() -> Node:
    return Node("theorem", "Replace: linear growth", "thm:replace", text=r"a_K \le \sum_{i=1}^{K} \varepsilon_i",
             extra={"provenance": "[derived]", "proof": (
                 "Unroll $a_i \\le \\varepsilon_i + a_{i-1}$. At a fixed training-set size the bound grows "
                 "linearly in $K$.")})


def _mix() -> Node:
    return Node("theorem", "Mix with a constant real fraction: bounded error [Fu24]", "thm:mix", text=(
        r"a_K \le (1-\lambda)^{K-1} \varepsilon_1 + \frac{1-(1-\lambda)^{K-1}}{\lambda}\, \varepsilon "
        r"\le \max\Big(\varepsilon_1, \frac{\varepsilon}{\lambda}\Big)"),
        items=[r"$\lambda_i = \lambda \in (0, 1]$ and $\varepsilon_i = \varepsilon$ for $i \ge 2$."],
        extra={"provenance": "[derived]", "proof": (
            r"The right side solves $A_K = \varepsilon + (1-\lambda) A_{K-1}$, $A_1 = \varepsilon_1$. With "
            r"$\theta = (1-\lambda)^{K-1} \in (0, 1]$ it equals $\theta \varepsilon_1 + (1-\theta)\varepsilon/\lambda$, "
            r"a convex combination: the error stays controlled for every $K$ when the real fraction is "
            r"bounded away from zero, and tends to $\varepsilon/\lambda$.")})


def _accumulate() -> Node:
    return Node("theorem", "Accumulate: logarithmic growth", "thm:accumulate", text=(
        r"a_K \le \varepsilon H_K = \varepsilon \sum_{i=1}^{K} \frac{1}{i} \approx \varepsilon (\ln K + 0.5772)"),
        items=[r"$n_{\mathrm{synth}} = n_{\mathrm{real}}$, so $N_i = i\, n_{\mathrm{real}}$, and $\varepsilon_i = \varepsilon$ for all $i$."],
        extra={"provenance": "[derived]", "proof": (
            r"The recursion reads $A_i = \varepsilon + \frac1i \sum_{j<i} A_j$. The identity "
            r"$\sum_{j=1}^{m} H_j = (m+1) H_m - m$ gives $\varepsilon + \frac1i \varepsilon (i H_{i-1} - (i-1)) = "
            r"\varepsilon H_i$. For $K = 50$, $H_{50} = 4.4992$.")})


def _rescue() -> Node:
    return Node("theorem", "Final-generation rescue [Fu24]", "thm:rescue", text=(
        r"a_K \le \varepsilon + (1-\lambda_K)(K-1)\,\varepsilon, \qquad \lambda_K \ge \frac{K-1}{K} "
        r"\ \Rightarrow\ a_K < 2\varepsilon"),
        items=[r"Generations $2, \dots, K-1$ are fully synthetic, generation $K$ has real fraction "
               r"$\lambda_K$; $\varepsilon_i = \varepsilon$."],
        extra={"provenance": "[derived]", "proof": (
            r"By [[thm:replace]], $a_{K-1} \le (K-1)\varepsilon$; one step of the `mix` recursion "
            r"adds $\varepsilon$ and multiplies by $1 - \lambda_K$. A real share of order $(i-1)/i$ at the "
            r"last generation is what keeps the error at the level of one generation.")})


def _growth() -> Node:
    return Node("theorem", "Growing sample sizes in replace", "thm:growth", text=(
        r"N_i = N_1\, i^{1/\alpha + s},\ s > 0 \ \Rightarrow\ a_K \le C N_1^{-\alpha} \zeta(1 + \alpha s); "
        r"\qquad K\, C N^{-\alpha} \le \varepsilon^\star \iff N \ge (K C/\varepsilon^\star)^{1/\alpha}"),
        items=[r"$\varepsilon(N) = C N^{-\alpha}$ with $C, \alpha > 0$."],
        extra={"provenance": "[derived]", "proof": (
            r"With the growing sizes, $C N_i^{-\alpha} = C N_1^{-\alpha} i^{-1-\alpha s}$, a convergent "
            r"series. With one common size $N$, the `replace` bound $K C N^{-\alpha}$ meets a target "
            r"$\varepsilon^\star$ only if $N$ grows like $K^{1/\alpha}$: $K^4$ for $\alpha = 1/4$ (the "
            r"quartic growth reported by [Fu24]) and $K^5$ for the early-stopped diffusion rate after "
            r"Pinsker ([[sec:early-stopping]]). The growth follows from the learner's rate.")})


def _kde_loop() -> Node:
    return Node("theorem", "Explicit per-generation error of a KDE loop", "thm:kde-loop", text=(
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
            r"an assumption that every result lists.")})


def _phase() -> Node:
    return Node("theorem", "Phase transition [Fu24]", "thm:phase", text=(
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
            r"`derivations/phase-transition.md`.")})


def _early_stopping() -> Node:
    return Node("theorem", "Early-stopping optimum [Li23]", "thm:early-stopping", text=(
        r"\tau^* = \Big(\frac{c_{\mathrm{opt}}\, m n}{4 c_{\mathrm{stat}}}\Big)^{1/5} \ (c_{\mathrm{width}} = 0), "
        r"\qquad m \propto n:\ \tau^* = \Theta(n^{2/5}),\ \ \min_\tau \mathrm{KL} \lesssim n^{-2/5} + m^{-4/5}"),
        items=[r"The $\tau$-dependent part of [[D1]], $g(\tau) = c_{\mathrm{stat}} \tau^4/(m n) + "
               r"c_{\mathrm{width}} \tau^3/m^2 + c_{\mathrm{opt}}/\tau$, minimised over $\tau \ge 1$."],
        extra={"provenance": "[Li23, derived]", "proof": (
            r"$\tau^2 g'(\tau) = 4 c_{\mathrm{stat}} \tau^5/(m n) + 3 c_{\mathrm{width}} \tau^4/m^2 - c_{\mathrm{opt}}$ "
            r"increases strictly in $\tau$, so the root is unique and the minimiser over $\tau \ge 1$ is the "
            r"larger of 1 and that root ([[D2]]); with $c_{\mathrm{width}} > 0$ it is found by Newton's method (monotone from the right, the slope being convex) and "
            r"checked by substitution.")})


_FALLBACK = {
    "thm:recursion": _recursion,
    "thm:replace": _replace,
    "thm:mix": _mix,
    "thm:accumulate": _accumulate,
    "thm:rescue": _rescue,
    "thm:growth": _growth,
    "thm:kde-loop": _kde_loop,
    "thm:phase": _phase,
    "thm:early-stopping": _early_stopping,
}
