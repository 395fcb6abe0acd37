"""Export: LaTeX of lemmas and bounds, the derivation document (compiled with a real pdflatex),
the Markdown variant, the plot commands and the result objects' renderers.

Expected values come from closed forms typed here (docs/theory.md sections 4.2, 6 and 3.4), not from the code
under test.  The power-law learner keeps the plot tests fast.
"""

from __future__ import annotations

from importlib import resources
import json
import math
import re

import numpy as np
import pytest

from boundcalc import _figures
from boundcalc.document import content, macros, markdown, pdflatex, render
from boundcalc.bounds import plots
from boundcalc.cli.main import main
from boundcalc.theory.catalogue import all_lemmas, get_lemma

POWER = ["--learner", "power", "--C", "1", "--alpha", "0.25"]


@pytest.fixture(scope="module")
def document():
    return render.build_latex()


def run(capsys, *argv):
    """Run the CLI in-process; returns (status, stdout, stderr)."""
    try:
        status = main(list(argv))
    except SystemExit as exc:  # argparse errors
        status = exc.code
    out = capsys.readouterr()
    return status, out.out, out.err


def assert_one_line_error(status, err, *words):
    assert status == 2
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, lines[0])


# ------------------------------------------------------------------------------------------------
# LaTeX of lemmas and composed bounds
# ------------------------------------------------------------------------------------------------

def test_show_latex_prints_the_authored_template(capsys):
    for lemma_id in ("T1", "K2", "D1"):
        status, out, _ = run(capsys, "show", lemma_id, "--latex")
        assert status == 0 and out.strip() == get_lemma(lemma_id).latex


def test_bound_latex_substitutes_numbers_into_the_closed_form(capsys):
    status, out, _ = run(capsys, "bound", "--scheme", "replace", "-K", "7", "--n-real", "1000",
                         "--n-synth", "500", *POWER, "--latex")
    assert status == 0
    # replace: a_K = C n_real^-alpha + (K - 1) C n_synth^-alpha
    expected = 1000 ** -0.25 + 6 * 500 ** -0.25
    assert out.startswith(r"a_K \le C\,n_{\mathrm{real}}^{-\alpha} + (K-1)\,C\,n_{\mathrm{synth}}^{-\alpha}")
    value = float(re.search(r"= ([0-9.e+-]+) \\quad", out).group(1))
    assert value == pytest.approx(expected, rel=1e-5)
    assert r"n_{\mathrm{synth}} = 500" in out and "K = 7" in out


# ------------------------------------------------------------------------------------------------
# Markdown -> LaTeX conversion
# ------------------------------------------------------------------------------------------------

def test_text_specials_are_escaped_and_math_kept():
    tex = markdown.markdown_to_latex(r"50% of a_i & b#c {x} ~y ^z \w $\frac{a_i}{2}$ and `f_hat(x)`")
    assert r"50\% of a\_" in tex and r"\&" in tex and r"b\#c" in tex and r"\{x\}" in tex
    assert r"\textasciitilde{}" in tex and r"\textasciicircum{}" in tex and r"\textbackslash{}w" in tex
    assert r"$\frac{a_i}{2}$" in tex  # math untouched
    assert r"\texttt{f\_\allowbreak{}hat(x)}" in tex
    code = markdown.markdown_to_latex(r"`\nreal{x} ~ 50% $y$`")
    assert code == r"\texttt{\char92{}nreal\char123{}x\char125{} \char126{} 50\% \$y\$}"


def test_relations_in_text_become_math():
    tex = markdown.markdown_to_latex("a_i <= eps and b >= 0, x -> 0")
    assert r"$\le$" in tex and r"$\ge$" in tex and r"$\to$" in tex and "<" not in tex.replace("$<$", "")


def test_emphasis_may_span_code_and_math():
    tex = markdown.inline_latex("*Checked in `test_a` for $p * q$.* and **bold** but p * q stays",
                             markdown.RefStyle(set()))
    assert tex.startswith(r"\emph{Checked in \texttt{test\_\allowbreak{}a} for $p * q$.}")
    assert r"\textbf{bold}" in tex and "p * q stays" in tex


def test_lists_keep_their_numbering_after_a_paragraph():
    md = "1. one\n   more\n2. two\n\nA paragraph.\n\n3. three\n- bullet"
    tex = markdown.markdown_to_latex(md)
    assert r"\item one more" in tex
    assert tex.count(r"\begin{enumerate}") == 2 and r"\setcounter{enumi}{2}" in tex
    assert r"\begin{itemize}" in tex


def test_nested_lists_and_primed_items():
    md = ("1. one\n2. two:\n   - 2a. first\n     more\n   - second\n   after the sub-list\n"
          "2'. variant\n3. three")
    tex = markdown.markdown_to_latex(md)
    assert tex.count(r"\begin{enumerate}") == 1 and tex.count(r"\begin{itemize}") == 1
    inner = tex.split(r"\begin{itemize}")[1].split(r"\end{itemize}")
    assert r"\item[2a.] first more" in inner[0] and r"\item second" in inner[0]
    assert inner[1].lstrip().startswith("after the sub-list")
    assert r"\item[2'.] variant" in tex and r"\item three" in tex


def test_norm_bars_are_not_a_table():
    tex = markdown.markdown_to_latex("||p - q||_1 <= 2 and\n|x| is small")
    assert "longtable" not in tex and "$|$$|$p" in tex
    table = markdown.markdown_to_latex("| a | b |\n|---|---|\n| 1 | $x_1$ |")
    assert "longtable" in table and "$x_1$" in table


def test_references_to_known_and_unknown_lemmas():
    refs = markdown.RefStyle({"T1"})
    assert markdown.inline_latex("by [[T1]] and [[Z9]]", refs) == r"by Lemma~\ref{lem:T1} and lemma Z9"
    assert markdown.inline_latex("[[thm:phase]]", refs) == r"Theorem~\ref{thm:phase}"


def test_long_displays_split_only_at_top_level():
    short = r"a \le b, \quad c"
    assert markdown.split_display(short) == [short]
    long = (r"x = \Big( \frac{a, \quad b}{c} \Big) + " + "y + " * 30 + r"z, \quad "
            + r"\left( u; \quad v \right) + " + "w + " * 30 + r"1; \qquad t = 2")
    lines = markdown.split_display(long)
    assert len(lines) >= 2
    for line in lines:  # braces and \left/\right balance inside every line
        assert line.count("{") == line.count("}") and line.count(r"\left") == line.count(r"\right")
    assert r"\frac{a, \quad b}{c}" in lines[0] and r"\left( u; \quad v \right)" in " ".join(lines)
    assert lines[-1].endswith("t = 2")


# ------------------------------------------------------------------------------------------------
# One macro per symbol
# ------------------------------------------------------------------------------------------------

def test_every_shared_symbol_has_exactly_one_macro(document):
    import sympy as sp

    from boundcalc.theory import notation as S
    names = {v.name for v in vars(S).values() if isinstance(v, sp.Symbol)}
    defined = re.findall(r"\\newcommand\{\\([A-Za-z]+)\}", document)
    assert len(defined) == len(set(defined)) == len(names)
    table = macros.symbol_table()
    assert {row[0] for row in table} == names and {row[1] for row in table} == set(defined)


def test_body_uses_the_macros_not_raw_renderings(document):
    body = document.split(r"\begin{document}", 1)[1]
    for raw in (r"n_{\mathrm{real}}", r"n_{\mathrm{synth}}", r"\mathrm{TV}", r"\mathrm{KL}", r"c_{\mathrm{stat}}",
                r"c_{\mathrm{opt}}"):
        assert raw not in body, raw
    assert r"\nreal" in body and r"\TV" in body and r"\cstat" in body


def test_use_macros_leaves_longer_tokens_alone():
    # a_{i-1} is a shared symbol, but not inside \sigma_{i-1}; m_c is one, but not inside \sum_c
    assert macros.use_macros(r"\sigma_{i-1} + a_{i-1}") == r"\sigma_{i-1} + \aprev "
    assert macros.use_macros(r"\sum_c m_c") == r"\sum_c \mcentre "
    assert macros.use_macros(r"(1-\lambda)a_{i-1}") == r"(1-\lambda)\aprev "


def test_use_macros_and_sympy_printer_agree():
    import sympy as sp

    from boundcalc.theory import notation as S
    assert macros.use_macros(r"C\,n_{\mathrm{real}}^{-\alpha} + \mathrm{TV}(p, q)") == r"C\,\nreal ^{-\alpha} + \TV (p, q)"
    printed = macros.sympy_latex(S.C * S.n_real ** (-S.alpha) + S.c_stat * S.tau)
    assert r"\nreal" in printed and r"\cstat" in printed and "n_{real}" not in printed
    assert sp.latex(S.n_real) == "n_{real}"  # why the macro names are needed


# ------------------------------------------------------------------------------------------------
# The document
# ------------------------------------------------------------------------------------------------

def test_document_holds_every_lemma_with_provenance_and_proof(document):
    for lemma in all_lemmas():  # lemmas and theorems alike
        label = rf"\label{{{content.entry_label(lemma)}}}"
        assert document.count(label) == 1, lemma.id
        block = document.split(label, 1)[1].split(r"\end{proof}", 1)[0]
        assert f"\\textbf{{Provenance:}} {markdown.escape_text(lemma.provenance)}" in block
        assert r"\begin{proof}[Proof sketch]" in block
        for line in markdown.split_display(macros.use_macros(lemma.latex)):
            assert line in block, (lemma.id, line)


def test_document_order_is_the_reading_order(document):
    order = ["sec:notation", "sec:schemes", "sec:lemmas", "lem:T1", "lem:C2", "lem:K1", "lem:D1",
             "sec:composition", "thm:recursion", "thm:replace", "thm:mix", "thm:accumulate",
             "sec:kde-loop", "sec:phase", "thm:phase", "sec:early-stopping", "thm:early-stopping",
             "sec:provenance"]
    aliases = content.theorem_aliases()  # thm:recursion is thm:S1 once the catalogue holds S1
    positions = [document.index(rf"\label{{{aliases.get(label, label)}}}") for label in order]
    assert positions == sorted(positions)
    refs = set(re.findall(r"\\ref\{([^}]+)\}", document))
    labels = set(re.findall(r"\\label\{([^}]+)\}", document))
    assert refs <= labels, refs - labels


def test_document_states_the_reference_numbers(document):
    assert "6.4767" in document and "4.4992" in document
    assert r"\frac{\copt \, m n}{4 \cstat }" in document.replace("  ", " ")


@pytest.mark.skipif(pdflatex.pdflatex_path() is None, reason="pdflatex is not installed "
                    "(.ci/run installs texlive-latex-base, texlive-latex-recommended, texlive-fonts-recommended)")
def test_document_compiles_with_pdflatex(tmp_path, document):
    result = pdflatex.compile_pdf(document, tmp_path / "out" / "boundcalc.pdf")
    assert result.errors == [], result.errors
    assert result.undefined_references == []
    assert result.ok and result.pdf.read_bytes().startswith(b"%PDF")
    assert "LaTeX Warning: Reference" not in result.log
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["boundcalc.pdf"]


@pytest.mark.skipif(pdflatex.pdflatex_path() is None, reason="pdflatex is not installed")
def test_latex_command_compiles_the_pdf(tmp_path, capsys):
    status, out, _ = run(capsys, "latex", "--out", str(tmp_path / "doc.tex"), "--pdf")
    assert status == 0 and f"wrote {tmp_path / 'doc.pdf'}" in out
    assert (tmp_path / "doc.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.pdf", "doc.tex"]
    assert_one_line_error(*run(capsys, "latex", "--out", str(tmp_path / "doc.pdf"), "--pdf")[::2], ".tex file")


@pytest.mark.skipif(pdflatex.pdflatex_path() is None, reason="pdflatex is not installed")
def test_printed_latex_of_results_and_lemmas_compiles(tmp_path):
    """What ``bound/phase/solve --latex`` and ``show --latex`` print compiles in display math."""
    from boundcalc.bounds.compose import compose_bound
    from boundcalc.bounds.learners import Diffusion, PowerLaw
    from boundcalc.bounds.phase import phase_transition
    from boundcalc.model.schemes import make_scheme
    from boundcalc.bounds.solve import solve
    power = PowerLaw(1.0, 0.25)
    formulas = [compose_bound(make_scheme(name, 1000, 500), power, 6).to_latex()
                for name in ("replace", "mix", "accumulate")]
    formulas.append(compose_bound(make_scheme("mix", 1000, 500, draw="iid"), Diffusion(), 3).to_latex())
    formulas.append(phase_transition(PowerLaw(1.0, 0.2), 1000, 2).to_latex())
    formulas.append(solve("n-real", 0.5, power, scheme="replace", generations=4).to_latex())
    formulas += [lemma.latex for lemma in all_lemmas()]
    body = "\n".join(f"\\begin{{equation*}}{f}\\end{{equation*}}" for f in formulas)
    doc = ("\\documentclass{article}\\usepackage{amsmath,amssymb}\\usepackage[margin=1cm]{geometry}"
           "\\begin{document}\n" + body + "\n\\end{document}\n")
    result = pdflatex.compile_pdf(doc, tmp_path / "formulas.pdf")
    assert result.ok, result.errors


@pytest.mark.skipif(pdflatex.pdflatex_path() is None, reason="pdflatex is not installed")
def test_every_derivation_file_converts_to_latex_that_compiles(tmp_path):
    """The converter is robust to everything in derivations/ (tables, lists, code, plain-text formulas)."""
    files = sorted((f for f in resources.files("boundcalc.derivations").iterdir() if f.name.endswith(".md")), key=lambda f: f.name)
    assert len(files) >= len(all_lemmas())
    parts = [r"\section*{" + markdown.escape_text(f.name) + "}\n" + markdown.markdown_to_latex(f.read_text("utf-8"))
             for f in files]
    doc = (render._PREAMBLE.replace("%MACROS%", macros.preamble_macros()) + "\\begin{document}\n"
           + "\n\n".join(parts) + "\n\\end{document}\n")
    result = pdflatex.compile_pdf(doc, tmp_path / "derivations.pdf")
    assert result.ok, result.errors


@pytest.mark.skipif(pdflatex.pdflatex_path() is None, reason="pdflatex is not installed")
def test_compile_reports_errors_and_undefined_references(tmp_path):
    base = "\\documentclass{article}\\begin{document}%s\\end{document}\n"
    broken = pdflatex.compile_pdf(base % r"$\frac{1}{$", tmp_path / "a.pdf")
    assert broken.errors and not broken.ok and not (tmp_path / "a.pdf").exists()
    dangling = pdflatex.compile_pdf(base % r"see \ref{nowhere}", tmp_path / "b.pdf")
    assert dangling.undefined_references == ["nowhere"] and not (tmp_path / "b.pdf").exists()


def test_markdown_has_the_same_content_with_raw_math():
    md = render.build_markdown()
    assert md.startswith("# boundcalc")
    for lemma in all_lemmas():
        assert f"$$\n{lemma.latex}\n$$" in md
    math = re.findall(r"\$\$.*?\$\$|\$[^$]+\$", re.sub(r"`[^`]*`", "", md), re.S)
    assert math and not any(r"\nreal" in m or r"\cstat" in m for m in math)  # raw LaTeX, no macros
    assert "| `\\nreal` | $n_{\\mathrm{real}}$ |" in md and "## Notation" in md
    for title in ("The loop and its data-mixing schemes", "Composition across generations",
                  "Phase transition in the amount of synthetic data", "Early stopping and the diffusion loop"):
        assert f"## {title}" in md


# ------------------------------------------------------------------------------------------------
# boundcalc latex
# ------------------------------------------------------------------------------------------------

def test_latex_command_writes_the_document(tmp_path, capsys, document):
    target = tmp_path / "doc.tex"
    status, out, _ = run(capsys, "latex", "--out", str(target))
    assert status == 0 and target.read_text() == document and f"wrote {target}" in out
    status, out, _ = run(capsys, "latex", "--markdown", "--out", str(tmp_path / "doc.md"))
    assert status == 0 and (tmp_path / "doc.md").read_text() == render.build_markdown()
    status, out, _ = run(capsys, "latex")
    assert status == 0 and out == document


def test_latex_command_bad_options(tmp_path, capsys, monkeypatch):
    assert_one_line_error(*run(capsys, "latex", "--pdf")[::2], "--pdf needs --out")
    assert_one_line_error(*run(capsys, "latex", "--pdf", "--markdown", "--out", str(tmp_path / "x"))[::2],
                          "--markdown")
    assert_one_line_error(*run(capsys, "latex", "--out", str(tmp_path))[::2], "directory")
    monkeypatch.setattr(pdflatex, "pdflatex_path", lambda: None)
    target = tmp_path / "doc.tex"
    assert_one_line_error(*run(capsys, "latex", "--out", str(target), "--pdf")[::2], "pdflatex", "not installed")
    assert not target.exists()


@pytest.mark.skipif(pdflatex.pdflatex_path() is None, reason="pdflatex is not installed")
def test_latex_command_reports_a_failed_compile(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(render, "build_latex", lambda: "\\documentclass{article}\\begin{document}\\undefinedmacro\\end{document}\n")
    assert_one_line_error(*run(capsys, "latex", "--out", str(tmp_path / "d.tex"), "--pdf")[::2],
                          "pdflatex failed", "Undefined control sequence")
    assert not (tmp_path / "d.pdf").exists()


def test_interrupted_export_leaves_the_old_file(tmp_path, capsys, monkeypatch):
    target = tmp_path / "doc.tex"
    target.write_text("old")

    def boom(path, data):
        raise KeyboardInterrupt
    monkeypatch.setattr("boundcalc._io.os.replace", lambda *a: boom(*a))
    status, _, err = run(capsys, "latex", "--out", str(target))
    assert status == 130 and target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.tex"]  # the temporary file is removed


# ------------------------------------------------------------------------------------------------
# Plots
# ------------------------------------------------------------------------------------------------

def _check_files(paths, names):
    assert sorted(p.name for p in paths) == sorted(names)
    for p in paths:
        head = p.read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if p.suffix == ".png" else head.startswith(b"%PDF")


def test_plot_generations_all_schemes(tmp_path, capsys):
    status, out, _ = run(capsys, "plot", "generations", "--out", str(tmp_path), "-K", "6", "--n-real", "1000",
                         "--n-synth", "1000", *POWER)
    assert status == 0
    _check_files(list(tmp_path.iterdir()), ["generations.png", "generations.pdf"])
    # replace with n_synth = n_real: a_K = K C n^-alpha
    assert f"replace: a_K <= {6 * 1000 ** -0.25:.6g}" in out
    assert "mix:" in out and "accumulate:" in out


def test_generations_figure_draws_the_bounds():
    from boundcalc.bounds.compose import compose_bound
    from boundcalc.bounds.learners import PowerLaw
    from boundcalc.model.schemes import make_scheme
    learner = PowerLaw(1.0, 0.25)
    results = {name: compose_bound(make_scheme(name, 1000, 1000), learner, 5) for name in ("replace", "mix")}
    fig = plots.generations_figure(results)
    ax = fig.axes[0]
    lines = {l.get_label(): l for l in ax.get_lines()}
    replace = lines["$a_i$ bound, replace"]
    np.testing.assert_allclose(replace.get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(replace.get_ydata(), [i * 1000 ** -0.25 for i in range(1, 6)], rtol=1e-12)
    # mix with lam = 1/2, N = 2000: a_K = (1/2)^(K-1) eps(1000) + eps(2000) (1 - (1/2)^(K-1)) / (1/2)
    mix = [0.5 ** (k - 1) * 1000 ** -0.25 + 2000 ** -0.25 * (1 - 0.5 ** (k - 1)) / 0.5 for k in range(1, 6)]
    np.testing.assert_allclose(lines["$a_i$ bound, mix"].get_ydata(), mix, rtol=1e-12)
    assert "generation" in ax.get_xlabel() and "(count)" in ax.get_xlabel()
    assert "dimensionless" in ax.get_ylabel() and ax.get_title()


def test_plot_generations_picks_schemes_and_rejects_unknown(tmp_path, capsys):
    status, out, _ = run(capsys, "plot", "generations", "--out", str(tmp_path), "--scheme", "mix,replace",
                         "-K", "3", *POWER, "--format", "png")
    assert status == 0 and "accumulate" not in out and "mix:" in out and "replace:" in out
    assert [p.name for p in tmp_path.iterdir()] == ["generations.png"]
    assert_one_line_error(*run(capsys, "plot", "generations", "--out", str(tmp_path), "--scheme", "mixx")[::2],
                          "schemes must be among")


def test_plot_phase_marks_the_closed_form_threshold(tmp_path, capsys):
    from boundcalc.bounds.learners import PowerLaw
    from boundcalc.bounds.phase import phase_transition
    result = phase_transition(PowerLaw(1.0, 0.2), 1000, 2)
    s_star = (5 ** 1.25 - 1) * 1000  # docs/theory.md section 6: alpha = 1/5 at generation 2
    fig = plots.phase_figure(result, n_points=40)
    ax = fig.axes[0]
    threshold = [l for l in ax.get_lines() if l.get_label().startswith("threshold")][0]
    assert threshold.get_xdata()[0] == pytest.approx(s_star, rel=1e-6)
    curve = [l for l in ax.get_lines() if l.get_label().startswith("bound on")][0]
    s, f = curve.get_xdata(), curve.get_ydata()
    assert s[np.argmax(f)] == pytest.approx(s_star, rel=1e-9)  # the threshold is a grid point and the peak
    f_exact = (1000 + s) ** -0.2 + s / (1000 + s) * 1000 ** -0.2
    np.testing.assert_allclose(f, f_exact, rtol=1e-10)
    assert ax.get_xscale() == "log" and "(samples)" in ax.get_xlabel()
    status, out, _ = run(capsys, "plot", "phase", "--out", str(tmp_path), "--n-real", "1000",
                         "--learner", "power", "--C", "1", "--alpha", "0.2", "--points", "20")
    assert status == 0 and "6476.7" in out
    _check_files(list(tmp_path.iterdir()), ["phase.png", "phase.pdf"])


def _mix_closed_form(n_real, n_synth, K, C=1.0, alpha=0.25):
    lam = n_real / (n_real + n_synth)
    return ((1 - lam) ** (K - 1) * C * n_real ** -alpha
            + C * (n_real + n_synth) ** -alpha * (1 - (1 - lam) ** (K - 1)) / lam)


def test_plot_diagram_sizes_values_and_contour(tmp_path, capsys, monkeypatch):
    captured = {}
    original = _figures.diagram_figure

    def keep(data):
        captured["data"] = data
        captured["fig"] = original(data)
        return captured["fig"]
    monkeypatch.setattr(_figures, "diagram_figure", keep)
    status, out, _ = run(capsys, "plot", "diagram", "--out", str(tmp_path), *POWER, "--grid", "7",
                         "-K", "8", "--n-real-range", "100,10000", "--n-synth-range", "100,1e6", "--level", "0.3")
    assert status == 0 and "contour level 0.3" in out
    data = captured["data"]
    assert data.values.shape == (7, 7)
    for j, k in ((0, 0), (3, 5), (6, 6), (6, 0)):
        assert data.values[j, k] == pytest.approx(_mix_closed_form(data.x[k], data.y[j], 8), rel=1e-10)
    ax = captured["fig"].axes[0]
    assert "white contour: bound = 0.3" in ax.get_title()
    assert ax.get_xscale() == "log" and "n_{\\mathrm{real}}" in ax.get_xlabel()
    _check_files(list(tmp_path.iterdir()), ["diagram.png", "diagram.pdf"])


def test_plot_diagram_fraction_generations(tmp_path, capsys, monkeypatch):
    captured = {}
    original = _figures.diagram_figure
    monkeypatch.setattr(_figures, "diagram_figure", lambda data: original(captured.setdefault("data", data)))
    status, out, _ = run(capsys, "plot", "diagram", "--out", str(tmp_path), *POWER, "--axes",
                         "fraction-generations", "--grid", "4", "-K", "12", "--n-real", "1000", "--level", "0.01")
    data = captured["data"]
    assert status == 0 and data.values.shape == (12, 4)
    for k, lam in enumerate(data.x):
        n_synth = math.floor(1000 * (1 - lam) / lam + 0.5)  # sample sizes are integers, halves rounded up
        for K in (1, 2, 12):
            assert data.values[K - 1, k] == pytest.approx(_mix_closed_form(1000, n_synth, K), rel=1e-10)
    assert any("outside the range" in n for n in data.notes) and "note: the level 0.01" in out


def test_plot_diagram_bad_options(tmp_path, capsys):
    assert_one_line_error(*run(capsys, "plot", "diagram", "--out", str(tmp_path), *POWER, "--level", "2")[::2],
                          "level must be in (0, 1]")
    assert_one_line_error(*run(capsys, "plot", "diagram", "--out", str(tmp_path), *POWER, "--axes",
                               "fraction-generations", "--scheme", "replace")[::2], "--scheme mix")
    assert_one_line_error(*run(capsys, "plot", "diagram", "--out", str(tmp_path), *POWER,
                               "--n-real-range", "10,5")[::2], "n_real_range")
    (tmp_path / "file").write_text("x")
    assert_one_line_error(*run(capsys, "plot", "diagram", "--out", str(tmp_path / "file"), *POWER,
                               "--grid", "2")[::2], "not a folder")
    assert_one_line_error(*run(capsys, "plot", "phase")[::2], "--out")
    assert_one_line_error(*run(capsys, "plot", "diagram", "--out", str(tmp_path), *POWER, "--scheme", "schedule",
                               "--real-fractions", "0.5")[::2], "--axes sizes needs")


def _d1(tau, m, n, T=10.0, c_stat=1.0, c_width=1.0, c_opt=1.0, c_mc=1.0, c_approx=0.0, c_prior=1.0):
    """Lemma D1's right-hand side, typed from docs/theory.md section 3.4."""
    return (c_stat * tau ** 4 / (m * n) + c_width * tau ** 3 / m ** 2 + c_opt / tau + c_mc / m + c_approx
            + c_prior * math.exp(-2 * T))


def test_early_stopping_curves_against_closed_form_and_grid():
    from boundcalc.bounds.learners import Diffusion
    no_width = Diffusion(c_width=0.0)
    curve = plots.early_stopping_curves(no_width, [1e4], n_points=50)[0]
    assert curve.m == 1e4
    assert curve.tau_star == pytest.approx((1e4 * 1e4 / 4) ** 0.2, rel=1e-10)  # (c_opt m n / (4 c_stat))^(1/5)
    np.testing.assert_allclose(curve.kl, [_d1(t, 1e4, 1e4, c_width=0.0) for t in curve.tau], rtol=1e-12)
    default = plots.early_stopping_curves(Diffusion(), [2e3], n_points=50)[0]
    grid = np.geomspace(1, 10 * default.tau_star, 20001)
    brute = grid[np.argmin([_d1(t, 2e3, 2e3) for t in grid])]
    assert default.tau_star == pytest.approx(brute, rel=1e-3)
    assert default.kl_star <= default.kl.min() + 1e-15


def test_plot_early_stopping_command(tmp_path, capsys):
    status, out, _ = run(capsys, "plot", "early-stopping", "--out", str(tmp_path), "--n-samples", "1000,100000",
                         "--c-width", "0", "--points", "30")
    assert status == 0
    confidence = (2 * math.log(1 / 0.05)) ** 2  # ell(delta)^2 of lemma D4 at the default delta = 0.05, K = 1
    assert "delta_i = delta/K = 0.05/1 = 0.05" in out
    for n in (1e3, 1e5):
        assert f"n = {n:g}, m = {n:g}: tau* = {(n * n / (4 * confidence)) ** 0.2:.6g}" in out
    status, out, _ = run(capsys, "plot", "early-stopping", "--out", str(tmp_path), "--n-samples", "1000,100000",
                         "--c-width", "0", "--points", "30", "--delta-exponent", "0")  # the constants as given
    assert status == 0
    for n in (1e3, 1e5):
        assert f"n = {n:g}, m = {n:g}: tau* = {(n * n / 4) ** 0.2:.6g}" in out
    _check_files(list(tmp_path.iterdir()), ["early-stopping.png", "early-stopping.pdf"])
    assert_one_line_error(*run(capsys, "plot", "early-stopping", "--out", str(tmp_path), "--learner", "kde")[::2],
                          "--learner diffusion")
    assert_one_line_error(*run(capsys, "plot", "early-stopping", "--out", str(tmp_path), "--n-samples", "0")[::2],
                          "n_samples")


def test_plots_are_byte_identical_across_runs(tmp_path, capsys):
    for folder in ("a", "b"):
        status, _, _ = run(capsys, "plot", "generations", "--out", str(tmp_path / folder), "-K", "4", *POWER)
        assert status == 0
    for name in ("generations.png", "generations.pdf"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_save_figure_writes_nothing_when_rendering_fails(tmp_path, monkeypatch):
    fig, ax = _figures.new_figure()
    ax.plot([1, 2], [1, 2])
    (tmp_path / "f.png").write_bytes(b"old")
    real = _figures.figure_bytes

    def fail_on_pdf(figure, fmt):
        if fmt == "pdf":
            raise KeyboardInterrupt
        return real(figure, fmt)
    monkeypatch.setattr(_figures, "figure_bytes", fail_on_pdf)
    with pytest.raises(KeyboardInterrupt):
        _figures.save_figure(fig, tmp_path, "f")
    assert (tmp_path / "f.png").read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]


# ------------------------------------------------------------------------------------------------
# Result objects in Python
# ------------------------------------------------------------------------------------------------

def test_result_objects_render_and_plot():
    from boundcalc.bounds.compose import compose_bound
    from boundcalc.bounds.learners import PowerLaw
    from boundcalc.bounds.phase import phase_transition
    from boundcalc.model.schemes import make_scheme
    from boundcalc.bounds.solve import solve
    learner = PowerLaw(1.0, 0.25)
    bound = compose_bound(make_scheme("replace", 1000, 1000), learner, 4)
    text = bound._repr_latex_()
    assert text.startswith("$") and text.endswith("$") and bound.to_latex() in text
    assert json.loads(bound.to_json())["final"] == pytest.approx(4 * 1000 ** -0.25)
    fig, ax = _figures.new_figure()
    assert bound.plot(ax=ax) is ax
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [k * 1000 ** -0.25 for k in range(1, 5)])

    phase = phase_transition(PowerLaw(1.0, 0.2), 1000, 2)
    assert phase._repr_latex_().startswith("$") and "s^*" in phase._repr_latex_()
    fig, ax = _figures.new_figure()
    phase.plot(ax=ax, n_points=10)
    assert any(l.get_label().startswith("threshold") for l in ax.get_lines())

    solved = solve("n-real", 0.5, learner, scheme="replace", generations=4)
    assert solved._repr_latex_().startswith("$")
    fig, ax = _figures.new_figure()
    solved.plot(ax=ax)
    heights = [p.get_height() for p in ax.patches]
    assert heights[0] == pytest.approx(0.5) and heights[1] <= 0.5


def test_symbolic_and_export_modules_import_neither_torch_nor_matplotlib():
    import subprocess
    import sys
    code = ("import sys, boundcalc.cli.main, boundcalc.document.render, boundcalc.bounds.plots, boundcalc._figures, "
            "boundcalc.cli.export; "
            "boundcalc.document.render.build_markdown(); "
            "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_plot_result_rejects_other_objects():
    from boundcalc._checks import BoundcalcError
    fig, ax = _figures.new_figure()
    with pytest.raises(BoundcalcError, match="cannot plot a dict"):
        plots.plot_result({}, ax=ax)


# ------------------------------------------------------------------------------------------------
# Theorems: rendered from catalogue objects, like lemmas
# ------------------------------------------------------------------------------------------------

def _fake_theorem(tmp_path, theorem_id="S1", proof="Split $a_i$ at $q_i$ with [[T2]]; the rest is [[T1]]."):
    """A stand-in catalogue theorem (the shape of a Lemma with kind "theorem") and its derivation file."""
    from types import SimpleNamespace
    path = tmp_path / f"{theorem_id}.md"
    path.write_text(f"# {theorem_id}: A stand-in recursion\n\n**Provenance:** [derived]\n\n## Statement\n\n$$\n"
                    "a_i \\le \\varepsilon_i + a_{i-1}\n$$\n\n## Hypotheses\n- none\n\n## Proof\n"
                    f"{proof}\n\n## Numeric check\nUnique-marker-4711.\n", encoding="utf-8")
    return SimpleNamespace(id=theorem_id, kind="theorem", title="A stand-in recursion",
                           latex=r"a_i \le \varepsilon_i + a_{i-1}", hypotheses=("$a_1 \\le \\varepsilon_1$.",),
                           provenance="[derived]", source="Derived for the test.", derivation=str(path))


def test_a_theorem_without_a_place_is_still_shown(tmp_path, monkeypatch):
    from boundcalc.theory.lemma import CATALOGUE
    monkeypatch.setitem(CATALOGUE, "Z9", _fake_theorem(tmp_path, "Z9"))
    tex = render.build_latex()
    assert r"\section{Further theorems}" in tex and r"\label{thm:Z9}" in tex
    assert tex.index(r"\label{thm:Z9}") < tex.index(r"\label{sec:provenance}")


def test_a_theorem_whose_proof_is_not_installed_is_an_error(tmp_path, monkeypatch, capsys):
    from boundcalc.document.derivations import MissingProofError
    from boundcalc.theory.lemma import CATALOGUE
    theorem = _fake_theorem(tmp_path, "Z8")
    theorem.derivation = str(tmp_path / "absent.md")
    monkeypatch.setitem(CATALOGUE, "Z8", theorem)
    with pytest.raises(MissingProofError, match="proof of Z8 is missing"):
        render.build_markdown()
    status, out, err = run(capsys, "latex", "--markdown")
    assert status == 1 and out == ""
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and "proof of Z8 is missing" in lines[0]


def test_every_place_of_the_document_is_filled_by_a_catalogue_theorem():
    assert content.theorem_aliases()["thm:recursion"] == "thm:S1"
    tex = render.build_latex()
    assert r"\label{thm:S1}" in tex and r"\label{thm:recursion}" not in tex
    ids = {t.id for t in content.catalogue_theorems()}
    placed = {tid for slots in content.THEOREM_SLOTS.values() for _, tid in slots}
    assert placed <= ids, placed - ids  # every place of the document is filled by an object
