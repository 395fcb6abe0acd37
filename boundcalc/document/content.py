r"""The derivation document as a list of nodes, in reading order.

:func:`document_nodes` builds the content once (sections, paragraphs of mini-Markdown with
``$...$`` math, display formulas, lemma and theorem blocks, tables); :mod:`boundcalc.document.render`
renders it as LaTeX and as Markdown.  Order of the document (the order a reader needs): notation,
the loop and its schemes, the lemmas by family (divergence algebra, concentration, kernel density
estimation, diffusion models; lemmas of other families follow), the composition theorem with its
closed form per scheme, the explicit KDE loop, the phase transition in the amount of synthetic data,
early stopping and what it implies for the loop, and a provenance table.

Lemmas and theorems are catalogue objects (:func:`boundcalc.theory.catalogue.all_lemmas`, told
apart by ``kind``) and go through one function, :func:`entry_node`: statement, hypotheses,
provenance and source from the object, proof sketch and numeric check from the ``## Proof`` and
``## Numeric check`` sections of its derivation file (an error when the file is not installed).
:data:`THEOREM_SLOTS` says which theorem fills which place of the document.
"""

from __future__ import annotations

import re

from boundcalc.document.derivations import proof_of
from boundcalc.document.macros import symbol_table, sympy_latex
from boundcalc.document.nodes import Node

_OBJECTS = [  # (LaTeX, meaning): the objects of the loop, not sympy symbols
    (r"p_0", "the real data distribution (with density $p_0$)"),
    (r"p_i", "the distribution produced by the model of generation $i$"),
    (r"q_i", "the population law of generation $i$'s training set"),
    (r"a_i = \TV(p_i, p_0)", "what every bound controls"),
    (r"\varepsilon_i = \TV(p_i, q_i)", "one-generation learning error"),
    (r"\varphi_h", r"the density of $\mathcal{N}(0, h^2 I_d)$"),
]


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
    lemmas = sorted(catalogue_lemmas(), key=_lemma_order_key)
    nodes: list[Node] = []
    add = nodes.append

    add(Node("para", text=(
        "This document collects, in the order a reader needs them, the mathematics that boundcalc "
        "implements: the notation, the self-consuming loop and its data-mixing schemes, every lemma of "
        "the catalogue with its hypotheses, provenance and a proof sketch, the composition theorem for "
        "each scheme, the phase transition in the amount of synthetic data and the early-stopping "
        "result. It is generated from the code (`boundcalc latex`): statements are the catalogue's "
        "authored templates, proof sketches come from the files in `derivations/` (installed with the "
        "package as `boundcalc/derivations/`; `boundcalc show ID` prints the path), where every step is "
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
        r"with earlier outputs, as follows (`boundcalc/model/schemes.py` is the one definition used by both "
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
        add(entry_node(lemma))

    placed = set()
    _composition_nodes(add, placed)
    _kde_loop_nodes(add, placed)
    _phase_nodes(add, placed)
    _early_stopping_nodes(add, placed)
    further = [t for t in catalogue_theorems() if t.id not in placed]
    if further:  # a theorem the document has no place for yet is still shown, never dropped
        add(Node("section", "Further theorems", "sec:further-theorems"))
        for theorem in further:
            add(entry_node(theorem))

    shown = lemmas + [t for t in catalogue_theorems()]
    add(Node("section", "Provenance of the catalogue", "sec:provenance"))
    add(Node("table", items=[["id", "provenance", "derivation", "source"]] + [
        [f"[[{l.id}]]", l.provenance, f"`{l.derivation}`", l.source] for l in shown],
        extra={"widths": [0.15, 0.16, 0.24, 0.4]}))  # the derivation column holds a whole path
    return nodes


# ------------------------------------------------------------------------------------------------
# Catalogue entries (lemmas and theorems) as nodes: one generic rendering
# ------------------------------------------------------------------------------------------------

def kind_of(entry) -> str:
    """``"lemma"`` or ``"theorem"`` (catalogue objects without a ``kind`` are lemmas)."""
    return getattr(entry, "kind", "lemma")


def entry_label(entry) -> str:
    """The document label of a catalogue entry: ``lem:K2`` for a lemma, ``thm:S1`` for a theorem."""
    return ("thm:" if kind_of(entry) == "theorem" else "lem:") + entry.id


def catalogue_lemmas() -> list:
    from boundcalc.theory.catalogue import all_lemmas
    return [e for e in all_lemmas() if kind_of(e) == "lemma"]


def catalogue_theorems() -> list:
    """The catalogue objects of kind "theorem", in registration order."""
    from boundcalc.theory.catalogue import all_lemmas
    return [e for e in all_lemmas() if kind_of(e) == "theorem"]


def entry_node(entry) -> Node:
    """A lemma or theorem block: statement (the authored ``latex``), hypotheses, provenance, source,
    and the proof and numeric check of its derivation file (:class:`MissingProofError` when the file
    is not installed).  Lemmas and theorems go through this one function."""
    proof = proof_of(entry)
    return Node(kind_of(entry), entry.title, entry_label(entry), text=entry.latex, items=list(entry.hypotheses),
                extra={"id": entry.id, "provenance": entry.provenance, "source": entry.source,
                       "proof": proof.text, "numeric": proof.numeric, "derivation": entry.derivation})


# ------------------------------------------------------------------------------------------------
# Theorems: each place of the document is filled by the catalogue object with that id
# ------------------------------------------------------------------------------------------------

#: (document place, catalogue id) of every theorem, by section, in reading order.  A place name
#: (``thm:recursion``) is what the document's prose cites; it resolves to the object's label.
THEOREM_SLOTS = {
    "composition": [("thm:recursion", "S1"), ("thm:replace", "S2"), ("thm:mix", "S3"),
                    ("thm:accumulate-prefix", "S4"), ("thm:accumulate", "S5"), ("thm:rescue", "S6"),
                    ("thm:growth", "S7")],
    "kde-loop": [("thm:kde-loop", "L1")],
    "phase": [("thm:phase", "P1")],
    "early-stopping": [("thm:early-stopping", "E1")],
}


def theorem_aliases() -> dict:
    """Place label -> label used in the document (``thm:recursion`` -> ``thm:S1`` once S1 exists), so
    that cross-references written with a place name still resolve."""
    present = {t.id for t in catalogue_theorems()}
    return {place: f"thm:{tid}" for slots in THEOREM_SLOTS.values() for place, tid in slots if tid in present}


def _theorems(section: str, add, placed: set) -> None:
    from boundcalc.theory.lemma import CATALOGUE
    for place, theorem_id in THEOREM_SLOTS[section]:
        entry = CATALOGUE.get(theorem_id)
        if entry is None or kind_of(entry) != "theorem":
            raise LookupError(f"the document places theorem {theorem_id} at {place}, but the catalogue "
                              "holds no such theorem")
        add(entry_node(entry))
        placed.add(theorem_id)


def _composition_nodes(add, placed):
    forms = _closed_form_templates()
    add(Node("section", "Composition across generations", "sec:composition"))
    add(Node("para", text=(
        r"Write $a_i = \mathrm{TV}(p_i, p_0)$ and $\varepsilon_i = \mathrm{TV}(p_i, q_i)$. The lemmas above "
        r"turn one-generation errors into a bound on the last generation. The proofs are in "
        r"`derivations/`; every closed form is checked by substituting it back into the "
        r"recursion.")))
    _theorems("composition", add, placed)
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


def _kde_loop_nodes(add, placed):
    add(Node("section", "The loop with a Gaussian KDE", "sec:kde-loop"))
    _theorems("kde-loop", add, placed)


def _phase_nodes(add, placed):
    add(Node("section", "Phase transition in the amount of synthetic data", "sec:phase"))
    _theorems("phase", add, placed)


def _early_stopping_nodes(add, placed):
    add(Node("section", "Early stopping and the diffusion loop", "sec:early-stopping"))
    _theorems("early-stopping", add, placed)
    add(Node("para", text=(
        r"*The diffusion model in the loop.* The one-generation error is bounded by [[D3]]: "
        r"$\varepsilon_i \le \min\big(\sqrt{\mathrm{KL}_i/2}, \sqrt{1 - e^{-\mathrm{KL}_i}}\big)$, with "
        r"$\mathrm{KL}_i$ the bound of [[D1]] at $n = N_i$ and the early-stopped time of [[D2]]; the "
        r"recursion ([[thm:recursion]]) composes it across generations. It assumes that the constants of "
        r"[[D1]] hold for every training law $q_i$, an idealisation (a diffusion output has Gaussian "
        r"tails). At the early-stopped rate $\mathrm{KL} \asymp N^{-2/5}$, Pinsker gives "
        r"$\varepsilon \asymp N^{-1/5}$, and [[thm:growth]] turns this into the $K^5$ growth of the "
        r"sample size that a fully synthetic loop needs.")))


