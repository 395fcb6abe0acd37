"""The parameter table (issue 8 item 3, issue 11): every row checks any value into either a
normalised value inside its range or one BoundcalcError line naming the parameter, the value and
the range; property-based over the rows, and over a few CLI options end to end."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boundcalc._checks import PARAMETERS, BoundcalcError, check
from boundcalc.cli.main import main

NUMERIC = [p for p in PARAMETERS.values() if p.kind in ("size", "int", "float", "probability", "fraction",
                                                        "number_or_word")]

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10 ** 30, max_value=10 ** 30),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "-0", "0x10", "1_000", "١٢", "½", "", " ", "auto", "1e3",
                     "2.5", "-1e3", "+7"]),
    st.text(max_size=6),
    st.none(), st.booleans(), st.lists(st.integers(), max_size=2),
)


def _inside(p, v) -> bool:
    if p.kind == "number_or_word" and isinstance(v, str):
        return v in p.choices
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
        return False
    low_ok = v > p.low if p.low_open else v >= p.low
    high_ok = v < p.high if p.high_open else v <= p.high
    whole = p.kind not in ("size", "int") or (math.isfinite(v) and v == int(v))
    return low_ok and high_ok and whole


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(NUMERIC), values)
def test_every_numeric_row_accepts_inside_or_says_one_line(p, value):
    try:
        out = p.check(value)
    except BoundcalcError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(f"{p.label} must be")
        assert "got" in message
        return
    assert _inside(p, out), (p.name, value, out)
    if p.kind in ("size", "int"):
        assert type(out) is int


@pytest.mark.parametrize("name, value, expected", [
    ("n_real", "1e6", 1_000_000), ("n_real", 10 ** 20, 10 ** 20), ("n_real", 1e15, 10 ** 15),
    ("delta", "0.05", 0.05), ("bandwidth", " AUTO ", "auto"), ("schedule_fractions", "0,0.5,1", (0, 0.5, 1)),
    ("sizes", [100, 2e3], (100, 2000)), ("scheme", "mix", "mix"),
])
def test_rows_normalise(name, value, expected):
    assert check(name, value) == expected


@pytest.mark.parametrize("name, value, message", [
    ("n_real", 2.5, "n_real must be an integer >= 1, got 2.5"),
    ("n_real", True, "n_real must be an integer >= 1, got True"),
    ("generation", 1, "generation must be an integer in [2, 1000000] (a size guard: the bound is composed "
                      "generation by generation), got 1"),
    ("delta", float("nan"), "delta must be a number in (0, 1), got nan"),
    ("real_fraction", 0, "real_fraction must be in (0, 1], got 0"),
    ("scheme", "swap", "scheme must be one of replace, mix, accumulate, schedule; got 'swap'"),
    ("sizes", "10,,20", "sizes must be comma-separated integers >= 1, got '10,,20'"),
    ("schedule_fractions", [], "schedule_fractions must list at least one number"),
])
def test_messages_name_parameter_value_and_range(name, value, message):
    with pytest.raises(BoundcalcError) as info:
        check(name, value)
    assert str(info.value).startswith(message)


CLI_OPTIONS = ["--n-real", "--n-synth", "--delta", "--C", "--alpha", "--real-fraction"]


@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(CLI_OPTIONS),
       st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.integers(min_value=-10 ** 20, max_value=10 ** 20).map(str),
                 st.text(alphabet="0123456789.-+eE_xnaifु١", min_size=1, max_size=8)))
def test_cli_outcome_is_a_result_or_one_error_line(capsys, option, text):
    argv = ["bound", "--learner", "power", "--C", "1", "--alpha", "0.25", "-K", "3", "--json"]
    if option in ("--C", "--alpha"):
        i = argv.index(option)
        argv[i + 1] = text
    else:
        argv += [option, text]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    if code == 0:
        assert '"final"' in out and err == ""
    else:
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "usage:" not in err, err
