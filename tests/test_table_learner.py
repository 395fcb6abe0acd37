"""The table learner (issue 9, item 6): a step envelope of tabulated eps(N), checked against the power
learner on points taken from a power law (closed form C N^-alpha, computed here, not by the learner)."""

import subprocess
import sys

import pytest

import boundcalc as bc
from boundcalc.bounds import solve as solve_module
from boundcalc.bounds.compose import compose_bound
from boundcalc.bounds.learners import PowerLaw, Table
from boundcalc.model.schemes import make_scheme

C, ALPHA = 1.5, 0.3
SIZES = [10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000]


def power(n):
    return C * n ** -ALPHA


@pytest.fixture
def table():
    return Table(tuple((n, power(n)) for n in SIZES))


def test_envelope_equals_the_power_law_at_the_points_and_is_above_it_between(table):
    for n in SIZES:
        assert float(table.eps_of_n(n)) == pytest.approx(power(n), rel=1e-15)
    for n in [11, 29.5, 99, 250, 5000, 77777, 99999]:
        assert float(table.eps_of_n(n)) >= power(n)
        below = max(s for s in SIZES if s <= n)
        assert float(table.eps_of_n(n)) == pytest.approx(power(below), rel=1e-15)


def test_envelope_is_non_increasing_and_never_below_the_data():
    t = Table(((10, 0.5), (100, 0.2), (1000, 0.3), (10000, 0.05)))  # a non-monotone measurement
    values = [float(t.eps_of_n(n)) for n in (10, 50, 100, 500, 1000, 5000, 10000)]
    assert values == sorted(values, reverse=True)
    assert values == [0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.05]


def test_outside_the_table_is_refused(table):
    for n in (9, 100001):
        with pytest.raises(bc.BoundcalcError, match="outside the tabulated range"):
            table.eps_of_n(n)


@pytest.mark.parametrize("scheme", [("replace", 300, 300), ("mix", 300, 700), ("accumulate", 100, 100)])
def test_composed_bound_matches_the_power_learner_on_tabulated_sizes(table, scheme):
    name, n_real, n_synth = scheme
    sch = make_scheme(name, n_real, n_synth)
    K = 3
    sizes = [sch.n_total(i) for i in range(1, K + 1)]
    a = compose_bound(sch, table, K).bound
    b = compose_bound(sch, PowerLaw(C, ALPHA), K).bound
    for i, (x, y) in enumerate(zip(a, b)):
        if all(n in SIZES for n in sizes[:i + 1]):  # every eps so far taken at a tabulated size
            assert float(x) == pytest.approx(float(y), rel=1e-12)
        assert float(x) >= float(y) * (1 - 1e-12)


def test_solve_n_real_is_the_next_tabulated_size_at_or_above_the_power_solution(table):
    target = 0.25
    tab = solve_module.solve("n-real", target, table, scheme="replace", generations=2)
    pw = solve_module.solve("n-real", target, PowerLaw(C, ALPHA), scheme="replace", generations=2)
    exact = (2 * C / target) ** (1 / ALPHA)  # 2 C n^-alpha <= target
    assert pw.value == pytest.approx(exact, abs=1)
    assert tab.value == min(s for s in SIZES if s >= pw.value)


def test_cli_table_learner(tmp_path):
    path = tmp_path / "eps.csv"
    path.write_text("N,eps\n" + "".join(f"{n},{power(n)!r}\n" for n in SIZES))
    run = lambda *a: subprocess.run([sys.executable, "-m", "boundcalc.cli.main", *a], capture_output=True, text=True)  # noqa: E731
    out = run("bound", "--learner", "table", "--table", str(path), "--scheme", "replace", "--n-real", "1000",
              "--generations", "2", "--json")
    assert out.returncode == 0, out.stderr
    import json
    data = json.loads(out.stdout)
    assert data["bound"][-1] == pytest.approx(2 * power(1000), rel=1e-12)
    bad = run("bound", "--learner", "table", "--table", str(path), "--n-real", "5")
    assert bad.returncode == 2 and "outside the tabulated range" in bad.stderr and "Traceback" not in bad.stderr
    missing = run("bound", "--learner", "table")
    assert missing.returncode == 2 and "--table" in missing.stderr
