"""Property-based tests of the command line and the Python API under bad and extreme input (hypothesis).

The invariant, for every command and every value of every parameter: the outcome is either a
result (exit 0, or 1 for a validation whose checks fail) whose printed numbers are finite, or ONE
clean error line on stderr with exit status 2 -- never a traceback, never a hang past a time limit
(SIGALRM; the validators run in a forked child killed past the limit, since SIGALRM cannot interrupt one
long numpy or torch call).  In the API the same holds with :class:`BoundcalcError` for the error line.

The validators' results may hold NaN by design (a model that fails the validity gate is
"unmeasured", and the run then fails its checks with exit 1); for them the JSON must parse and a
run that passes (exit 0) must have finite numbers.

CI runs a fixed seed and a small budget (``BOUNDCALC_HYPOTHESIS_EXAMPLES``, default 20 per test; about a minute);
a longer run is ``BOUNDCALC_HYPOTHESIS_EXAMPLES=200 python -m pytest tests/test_properties.py``.
Baselines are chosen so that a valid random value still answers in seconds (small n, one seed,
one or two generations); a valid value that makes a run long is capped by the size guards.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import time

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import boundcalc as bc
from boundcalc._checks import BoundcalcError
from boundcalc.cli.main import main

EXAMPLES = int(os.environ.get("BOUNDCALC_HYPOTHESIS_EXAMPLES", "20"))
#: a file to which every outcome is appended (exit code or API outcome), for the tallies of a long run
TALLY = os.environ.get("BOUNDCALC_PROPERTY_TALLY")


def _tally(kind: str, argv, outcome, seconds=None) -> None:
    if TALLY:
        with open(TALLY, "a", encoding="utf-8") as f:
            record = [kind, [str(a) for a in argv] if isinstance(argv, list) else str(argv), outcome]
            f.write(json.dumps(record + ([round(seconds, 3)] if seconds is not None else [])) + "\n")


def _tally_start(argv) -> None:
    """Write the input about to run (a long run that hangs is then named by the last ``start`` line)."""
    if TALLY:
        with open(TALLY, "a", encoding="utf-8") as f:
            f.write(json.dumps(["start", [str(a) for a in argv]]) + "\n")
LIMIT_SECONDS = int(os.environ.get("BOUNDCALC_HYPOTHESIS_LIMIT", "60"))
SEED = 20261201

#: values a careless or adversarial user may type for a number
BAD_TEXT = ["nan", "NaN", "inf", "-inf", "+inf", "Infinity", "1e309", "-1e309", "0", "-0", "-1", "-1e3",
            "1e-300", "5e-324", "1e15", "1e300", "2.5", "0.5", "1", "", " ", "abc", "1,2", "١٢", "１２",
            "0x10", "1e", "--", "None", "auto", "²", "½", "∞", "1e-10", "2", "3", "10", "1000", "-", "1e6",
            "0.999999", "1.0000001", "1e100", "4294967297", "9007199254740993", "00", "+5", "1 2", "\t7"]
BAD_NUMBERS = st.sampled_from(BAD_TEXT)
NUMBERS = st.one_of(BAD_NUMBERS, st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.integers(min_value=-10**20, max_value=10**20).map(str),
                    st.text(max_size=6))

POWER = ["--learner", "power", "--C", "1", "--alpha", "0.25"]
KDE_OPTIONS = ["--dim", "--bandwidth", "--p0", "--laplacian-l1", "--k2-integral", "--holder-L", "--holder-beta"]
DIFFUSION_OPTIONS = ["--width", "--width-ratio", "--tau", "--horizon", "--c-stat", "--c-width", "--c-opt", "--c-mc",
                     "--c-approx", "--c-prior"]
LOOP = ["--generations", "--n-real", "--n-synth", "--real-fraction", "--schedule-fractions", "--sizes", "--delta",
        "--real-data", "--scheme"]

#: (command words, baseline options, options whose values are drawn)
SYMBOLIC = {
    "bound power": (["bound", *POWER, "--json"], LOOP + ["--C", "--alpha"]),
    # the KDE loop bound takes seconds to tens of seconds past 64 generations (direct sums, or the warm-up of the
    # O(K) carry under mix): its K is not drawn here
    "bound kde": (["bound", "--learner", "kde", "--generations", "3", "--json"], LOOP[1:] + KDE_OPTIONS),
    "bound diffusion": (["bound", "--learner", "diffusion", "--generations", "3", "--json"], LOOP + DIFFUSION_OPTIONS),
    "solve n-real": (["solve", "--for", "n-real", "--target", "0.2", *POWER, "--n-synth", "1000", "--json"],
                     ["--target", "--generations", "--n-synth", "--delta", "--C", "--alpha", "--n-real"]),
    "solve generations": (["solve", "--for", "generations", "--target", "0.3", *POWER, "--json"],
                          ["--target", "--max-generations", "--n-real", "--n-synth", "--delta", "--generations"]),
    "solve real-fraction": (["solve", "--for", "real-fraction", "--target", "0.2", *POWER, "--json"],
                            ["--target", "--n-real", "--generations", "--delta", "--real-fraction"]),
    "phase": (["phase", *POWER[:-2], "--alpha", "0.2", "--json"],
              ["--generation", "--n-real", "--n-synth-before", "--previous-tv", "--delta", "--C", "--alpha"]),
    "optimum tau": (["optimum", "tau", "--json"], ["--n", "--width", "--width-ratio", "--c-stat", "--c-width",
                                                   "--c-opt", "--p0"]),
    "optimum bandwidth": (["optimum", "bandwidth", "--json"], ["--n", "--p0", "--dim"]),
    "show": (["show", "--json"], []),
    "lemmas": (["lemmas", "--json"], []),
}


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds):
    def handler(signum, frame):
        raise _Timeout(f"no answer within {seconds} s")
    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True


def run_cli(argv, limit=LIMIT_SECONDS):
    """(exit code, stdout, stderr) of one in-process run; any exception but SystemExit fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _time_limit(limit):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return code, out.getvalue(), err.getvalue()


def run_cli_isolated(argv, limit=LIMIT_SECONDS):
    """:func:`run_cli` in a forked child killed after ``limit + 30`` s: SIGALRM cannot interrupt one long
    numpy or torch call, so a validator that hangs there fails the test with its input instead of hanging
    the suite.  An exception in the child comes back as its traceback text (a failure, like in-process)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        try:
            try:
                payload = {"result": run_cli(argv, limit)}
            except BaseException:  # noqa: BLE001 - reported to the parent as text
                import traceback
                payload = {"exception": traceback.format_exc()}
            with os.fdopen(write_end, "w", encoding="utf-8") as f:
                json.dump(payload, f)
        finally:
            os._exit(0)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + limit + 30
    with os.fdopen(read_end, "r", encoding="utf-8") as f:
        import select
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([f], [], [], max(left, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise _Timeout(f"no answer within {limit + 30} s (the run was killed): {argv}")
            chunk = f.read()
            if not chunk:
                break
            chunks.append(chunk)
    os.waitpid(pid, 0)
    payload = json.loads("".join(chunks) or '{"exception": "the child ended without an answer"}')
    if "exception" in payload:
        raise AssertionError(f"{argv}: {payload['exception']}")
    code, out, err = payload["result"]
    return code, out, err


def assert_clean(argv, allowed=(0, 2), finite_json=True, limit=LIMIT_SECONDS, isolated=False):
    _tally_start(argv)
    started = time.monotonic()
    try:
        code, out, err = (run_cli_isolated if isolated else run_cli)(argv, limit)
    except _Timeout:
        _tally("cli", argv, "timeout", time.monotonic() - started)
        raise
    _tally("cli", argv, "traceback" if "Traceback" in err else code, time.monotonic() - started)
    assert code in allowed, (argv, code, err[-2000:])
    assert "Traceback" not in err, (argv, err[-2000:])
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "error" in lines[0], (argv, err)
    elif "--json" in argv and out.strip():
        data = json.loads(out)
        if finite_json or code == 0:
            assert _finite(data) or not finite_json, (argv, out[:500])
    return code, out, err


def _property(examples=None, **strategies):
    """hypothesis' given with the suite's fixed seed and budget."""
    def wrap(function):
        return seed(SEED)(settings(max_examples=examples or EXAMPLES, deadline=None, derandomize=True, database=None,
                                   suppress_health_check=list(HealthCheck))(given(**strategies)(function)))
    return wrap


# -- the calculator ------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", sorted(SYMBOLIC))
def test_calculator_answers_or_refuses_in_one_line(command):
    base, options = SYMBOLIC[command]

    @_property(option=st.sampled_from(options or ["--json"]), value=NUMBERS)
    def check(option, value):
        if command == "show":
            argv = ["show", value, "--json"]
        elif command == "lemmas":
            argv = ["lemmas", "--json", value] if value else ["lemmas", "--json"]
        else:
            argv = base + [option, value]
        assert_clean(argv)
    check()


@pytest.mark.parametrize("command", ["bound power", "bound kde", "solve n-real", "phase"])
def test_calculator_two_random_options(command):
    """Pairs of options with random values: conflicts are refused in one line, never ignored."""
    base, options = SYMBOLIC[command]

    @_property(pairs=st.lists(st.tuples(st.sampled_from(options), NUMBERS), min_size=2, max_size=3))
    def check(pairs):
        argv = list(base)
        for option, value in pairs:
            argv += [option, value]
        assert_clean(argv)
    check()


# -- figures and the document ---------------------------------------------------------------------------
PLOTS = {
    "generations": (["plot", "generations", *POWER, "--generations", "3"], ["--generations", "--n-real", "--delta",
                                                                            "--name", "--format", "--scheme"]),
    "phase": (["plot", "phase", *POWER, "--points", "4"], ["--generation", "--n-real", "--points", "--name",
                                                            "--previous-tv"]),
    "diagram": (["plot", "diagram", *POWER, "--grid", "3", "--generations", "2"],
                ["--grid", "--level", "--n-real-range", "--n-synth-range", "--name", "--axes"]),
    "early-stopping": (["plot", "early-stopping", "--points", "4"], ["--points", "--tau-max", "--n-samples", "--name"]),
}


@pytest.mark.parametrize("figure", sorted(PLOTS))
def test_plots_answer_or_refuse_in_one_line(figure, tmp_path):
    base, options = PLOTS[figure]

    @_property(examples=max(3, EXAMPLES // 4), option=st.sampled_from(options), value=NUMBERS)
    def check(option, value):
        out = tmp_path / "figures"
        code, _, _ = assert_clean(base + ["--out", str(out), option, value], finite_json=False)
        if option in ("--generations", "--n-real", "--points"):  # a valid value is answered, not refused
            assert code == 0 or value not in ("3", "10"), (option, value)
        if code == 0:  # the files are inside --out
            for path in out.rglob("*"):
                assert path.resolve().is_relative_to(out.resolve())
    check()


OUT_PATHS = st.sampled_from(["", " ", ".", "..", "/", "/proc/x/y.tex", "/sys/kernel/x.tex", "/dev/null/x.tex",
                             "{file}/x.tex", "{tmp}/a/b/c.tex", "{tmp}/é.tex", "{tmp}/x" + "y" * 300 + ".tex",
                             "{tmp}/nul\x01.tex", "{tmp}"])


@pytest.mark.parametrize("command", ["latex", "plot"])
def test_out_paths_answer_or_refuse_in_one_line(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "." and relative paths land in the test's folder
    a_file = tmp_path / "a_file"
    a_file.write_text("x")

    @_property(examples=max(3, EXAMPLES // 2), path=OUT_PATHS)
    def check(path):
        path = path.format(file=a_file, tmp=tmp_path)
        argv = (["latex", "--markdown", "--out", path] if command == "latex"
                else ["plot", "generations", *POWER, "--generations", "2", "--format", "png", "--out", path])
        assert_clean(argv, finite_json=False)
    check()


# -- the validators ---------------------------------------------------------------------------------------
VALIDATORS = {
    "kde": (["validate", "kde", "--seeds", "1", "--generations", "2", "--n-real", "60", "--json"],
            ["--scheme", "--generations", "--n-real", "--n-synth", "--real-fraction", "--schedule-fractions",
             "--sizes", "--bandwidth", "--target", "--seeds", "--seed", "--delta", "--grid-size", "--real-data"]),
}
_DIFFUSION_BASE = ["--seeds", "1", "--n-real", "40", "--width", "16", "--steps", "4", "--grid-size", "64",
                   "--draws-per-point", "1", "--tau", "10", "--json"]
_DIFFUSION_COMMON = ["--n-real", "--target", "--model", "--width", "--tau", "--steps", "--draws-per-point",
                     "--grid-size", "--sampler", "--seeds", "--seed", "--width-ratio"]
VALIDATORS.update({
    "diffusion loop": (["validate", "diffusion", "loop", "--scheme", "replace", "--generations", "1", *_DIFFUSION_BASE],
                       _DIFFUSION_COMMON + ["--generations", "--n-synth", "--scheme", "--mix-fractions", "--real-data"]),
    "diffusion phase": (["validate", "diffusion", "phase", "--n-synth-ratios", "0,1", *_DIFFUSION_BASE],
                        _DIFFUSION_COMMON + ["--n-synth-ratios", "--generations"]),
    "diffusion early-stopping": (["validate", "diffusion", "early-stopping", "--ns", "16,32", *_DIFFUSION_BASE],
                                 _DIFFUSION_COMMON + ["--ns"]),
    "diffusion calibrate": (["validate", "diffusion", "calibrate", "--ns", "16,32", "--generations", "1",
                             *_DIFFUSION_BASE], _DIFFUSION_COMMON + ["--ns", "--generations"]),
})
#: values for the validators: the bad ones, and valid ones small enough to run in seconds
VALIDATOR_NUMBERS = st.sampled_from([v for v in BAD_TEXT if v not in ("1000", "1e6", "4294967297",
                                                                       "9007199254740993", "1e15")]
                                    + ["1e7", "1e9", "1e12", "1e15", "5000000", "20000"])


@pytest.mark.parametrize("validator", sorted(VALIDATORS))
def test_validators_answer_or_refuse_in_one_line(validator):
    pytest.importorskip("torch") if validator.startswith("diffusion") else None
    base, options = VALIDATORS[validator]

    @_property(examples=max(3, EXAMPLES // 4), option=st.sampled_from(options), value=VALIDATOR_NUMBERS)
    def check(option, value):
        assert_clean(base + [option, value], allowed=(0, 1, 2), finite_json=False, limit=2 * LIMIT_SECONDS,
                     isolated=True)
    check()


# -- the Python API ------------------------------------------------------------------------------------------
VALUES = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -0.0, -1, 1e-300, 5e-324, 1e300, 2.5, 0.5, 1, 3, 10, 1000,
                     10**20, 2**53 + 1, True, False, None, "", "abc", "10", "١٢", "nan", (), [1, 2], {}, b"1"]),
    st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-10**30, max_value=10**30),
    st.text(max_size=4))


def _api_outcome(call):
    """Run ``call``: a result with finite numbers, or BoundcalcError with a one-line message."""
    with _time_limit(LIMIT_SECONDS):
        try:
            result = call()
        except BoundcalcError as exc:
            message = str(exc)
            _tally("api", call, "error")
            assert message and "\n" not in message, message
            return None
        except Exception as exc:
            _tally("api", call, "traceback " + type(exc).__name__)
            raise
    _tally("api", call, 0)
    data = json.loads(result.to_json()) if hasattr(result, "to_json") else result
    assert _finite(data), str(data)[:500]
    return result


API_CALLS = {
    "Mix": lambda v: bc.bound(bc.Mix(n_real=v, n_synth=100), bc.PowerLaw(C=1, alpha=0.25), generations=3),
    "Replace.n_synth": lambda v: bc.bound(bc.Replace(n_real=100, n_synth=v), bc.PowerLaw(C=1, alpha=0.25), generations=3),
    "Accumulate": lambda v: bc.bound(bc.Accumulate(n_real=100, n_synth=v), bc.PowerLaw(C=1, alpha=0.25), generations=3),
    "Mix.fraction": lambda v: bc.bound(bc.Mix.from_real_fraction(100, v), bc.PowerLaw(C=1, alpha=0.25), generations=3),
    "PowerLaw.C": lambda v: bc.bound(bc.Mix(n_real=100, n_synth=100), bc.PowerLaw(C=v, alpha=0.25), generations=3),
    "PowerLaw.alpha": lambda v: bc.bound(bc.Mix(n_real=100, n_synth=100), bc.PowerLaw(C=1, alpha=v), generations=3),
    "generations": lambda v: bc.bound(bc.Mix(n_real=100, n_synth=100), bc.PowerLaw(C=1, alpha=0.25), generations=v),
    "delta": lambda v: bc.bound(bc.Mix(n_real=100, n_synth=100), bc.PowerLaw(C=1, alpha=0.25), generations=2, delta=v),
    "KDE.bandwidth": lambda v: bc.bound(bc.Mix(n_real=100, n_synth=100), bc.KDE(bandwidth=v), generations=2),
    "normal.mu": lambda v: bc.bound(bc.Mix(n_real=100, n_synth=100), bc.KDE(target=bc.normal(mu=v)), generations=2),
    "normal.sigma": lambda v: bc.bound(bc.Mix(n_real=100, n_synth=100), bc.KDE(target=bc.normal(sigma=v)), generations=2),
    "Diffusion.width": lambda v: bc.bound(bc.Mix(n_real=100, n_synth=100), bc.Diffusion(width=v), generations=2),
    "Diffusion.tau": lambda v: bc.bound(bc.Mix(n_real=100, n_synth=100), bc.Diffusion(tau=v), generations=2),
    "solve.target": lambda v: bc.solve(v, bc.Mix(n_real=None, n_synth=1000), bc.PowerLaw(C=1, alpha=0.25)),
    "phase.generation": lambda v: bc.phase(bc.PowerLaw(C=1, alpha=0.2), n_real=1000, generation=v),
    "phase.n_real": lambda v: bc.phase(bc.PowerLaw(C=1, alpha=0.2), n_real=v),
    "optimum.n": lambda v: bc.optimum("tau", n=v),
    "normal.dim": lambda v: bc.bound(bc.Mix(n_real=100, n_synth=100), bc.KDE(target=bc.normal(dim=v)), generations=2),
    "parse_target": lambda v: bc.bound(bc.Mix(n_real=100, n_synth=100), bc.KDE(target=bc.parse_target(v)),
                                       generations=2),
}


@pytest.mark.parametrize("name", sorted(API_CALLS))
def test_api_answers_or_raises_boundcalc_error(name):
    call = API_CALLS[name]

    @_property(value=VALUES)
    def check(value):
        _api_outcome(lambda: call(value))
    check()
