"""Array-level figures (boundcalc._figures) and the validators' figures drawn through it.

Files must be byte-identical across runs (PNG and PDF, in one process and across processes with
another hash seed and a user matplotlibrc), carry no date or software version, and leave no
trace in the user's matplotlib state.  Expected curve values are typed here from closed forms.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from boundcalc import _figures
from boundcalc._checks import BoundcalcError
from boundcalc._figures import Panel, Series


def _sample_figure():
    series = {"replace": ([0.1, 0.2, 0.3, 0.4], [0.1, 0.1, 0.1, 0.1]), "mix": ([0.1, 0.15, 0.17, 0.18], None)}
    return _figures.generations_figure(series, "a title with $a_i$ and é")


def _png_chunks(blob: bytes) -> list[str]:
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    pos, names = 8, []
    while pos < len(blob):
        length, kind = struct.unpack(">I4s", blob[pos:pos + 8])
        data = blob[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + data) == struct.unpack(">I", blob[pos + 8 + length:pos + 12 + length])[0]
        names.append(kind.decode() + (":" + data.split(b"\0")[0].decode() if kind in (b"tEXt", b"iTXt") else ""))
        pos += 12 + length
    return names


# --- files --------------------------------------------------------------------------------------

def test_saving_twice_gives_the_same_bytes_in_both_formats(tmp_path):
    first = _figures.save_figure(_sample_figure(), tmp_path / "a", "f")
    second = _figures.save_figure(_sample_figure(), tmp_path / "b", "f")
    assert [p.name for p in first] == ["f.png", "f.pdf"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    again = _figures.save_figure(_sample_figure(), tmp_path / "a", "f")  # overwrite in place
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in second]


CHILD = """
import sys
from boundcalc import _figures
series = {"replace": ([0.1, 0.2, 0.3, 0.4], [0.1, 0.1, 0.1, 0.1]), "mix": ([0.1, 0.15, 0.17, 0.18], None)}
_figures.save_figure(_figures.generations_figure(series, "a title with $a_i$ and é"), sys.argv[1], "f")
"""


def test_files_do_not_depend_on_the_process_or_the_users_matplotlibrc(tmp_path):
    rc = tmp_path / "matplotlibrc"
    rc.write_text("lines.linewidth: 6\nfont.size: 22\nsavefig.dpi: 40\naxes.grid: True\n"
                  "axes.prop_cycle: cycler('color', ['k'])\npdf.compression: 0\n")
    here = _figures.save_figure(_sample_figure(), tmp_path / "here", "f")
    for k, env in enumerate(({"PYTHONHASHSEED": "1"}, {"PYTHONHASHSEED": "2", "MATPLOTLIBRC": str(rc)})):
        out = tmp_path / f"child{k}"
        subprocess.run([sys.executable, "-c", CHILD, str(out)], check=True, env={**os.environ, **env})
        for path in here:
            assert (out / path.name).read_bytes() == path.read_bytes(), (env, path.name)


def test_files_carry_no_date_and_no_software_version(tmp_path):
    png, pdf = _figures.save_figure(_sample_figure(), tmp_path, "f")
    chunks = _png_chunks(png.read_bytes())
    assert "tIME" not in chunks and not any(c.startswith(("tEXt:Software", "iTXt:Software")) for c in chunks)
    text = pdf.read_bytes()
    assert b"CreationDate" not in text and b"ModDate" not in text
    assert b"/Producer (boundcalc)" in text and b"matplotlib" not in text.lower()


def test_the_users_rcparams_do_not_reach_the_files_and_are_restored(tmp_path):
    import matplotlib
    reference = [p.read_bytes() for p in _figures.save_figure(_sample_figure(), tmp_path / "a", "f")]
    with matplotlib.rc_context({"lines.linewidth": 7.0, "font.size": 30.0, "axes.facecolor": "pink"}):
        changed = [p.read_bytes() for p in _figures.save_figure(_sample_figure(), tmp_path / "b", "f")]
        assert matplotlib.rcParams["lines.linewidth"] == 7.0 and matplotlib.rcParams["axes.facecolor"] == "pink"
    assert changed == reference


def test_save_figure_refuses_names_that_leave_the_folder_and_unknown_formats(tmp_path):
    fig = _sample_figure()
    for name in ("../x", "a/b", "..", ".hidden", ""):
        with pytest.raises(BoundcalcError, match="--name must be a plain file name"):
            _figures.save_figure(fig, tmp_path / "out", name)
    with pytest.raises(BoundcalcError, match="formats must be among png, pdf"):
        _figures.save_figure(fig, tmp_path / "out", "f", ["svg"])
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.png").exists()


def test_files_follow_the_umask(tmp_path):
    saved = os.umask(0o027)
    try:
        paths = _figures.save_figure(_sample_figure(), tmp_path, "f")
    finally:
        os.umask(saved)
    assert {oct(p.stat().st_mode & 0o777) for p in paths} == {oct(0o640)}


def test_importing_the_figures_module_does_not_import_matplotlib():
    code = ("import sys, boundcalc._figures, boundcalc.bounds.plots, boundcalc.validate.plots_kde, "
            "boundcalc.validate.diffusion.plots; print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_pyplot_figure_is_left_open():
    import matplotlib.pyplot as plt
    before = plt.get_fignums()
    _figures.panels_figure([Panel((Series([1, 2], [1, 2]),))])
    _sample_figure()
    assert plt.get_fignums() == before


# --- drawing ------------------------------------------------------------------------------------

def test_generations_lines_hold_the_given_values():
    fig = _sample_figure()
    lines = {l.get_label(): l for l in fig.axes[0].get_lines()}
    np.testing.assert_array_equal(lines["$a_i$ bound, replace"].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(lines["$a_i$ bound, replace"].get_ydata(), [0.1, 0.2, 0.3, 0.4])
    assert "$\\varepsilon_i$, mix" not in lines  # no eps given for mix
    with pytest.raises(BoundcalcError, match="no scheme"):
        _figures.generations_figure({})


def test_panels_draw_every_kind_and_clip_intervals():
    panel = Panel((Series([1, 2, 3], [0.5, 0.6, 0.7], kind="errorbar", low=[-0.2, 0.5, 0.6], high=[0.9, 1.4, 0.8],
                          clip=(0, 1), label="mean"),
                   Series([1, 2, 3], low=[0.1, 0.2, 0.3], high=[0.3, 0.4, 0.5], kind="band"),
                   Series([1, 3], [0.2, 0.4], kind="points", label="pts"),
                   Series(y=0.25, kind="hline", label="level"), Series(x=2.5, kind="vline", label="t")),
                  xlabel="x", ylabel="y", title="t", legend="below", legend_columns=2, integer_x=True)
    fig = _figures.panels_figure([panel, Panel((Series([1, 2], [3, 4]),), yscale="log", xscale="symlog:1")])
    ax, ax2 = fig.axes
    bars = ax.containers[0]
    (segments,) = bars.lines[2]  # (data line, caps, bar segments)
    ends = np.array([seg[:, 1] for seg in segments.get_segments()])
    np.testing.assert_allclose(ends, [[0.0, 0.9], [0.5, 1.0], [0.6, 0.8]])  # clipped to [0, 1]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["pts", "level", "t", "mean"] or set(labels) == {"pts", "level", "t", "mean"}
    assert ax2.get_yscale() == "log" and ax2.get_xscale() == "symlog"
    with pytest.raises(BoundcalcError, match="series kind"):
        _figures.panels_figure([Panel((Series([1], [1], kind="pie"),))])


def test_a_right_hand_axis_keeps_the_chosen_x_ticks():
    n = [40.0, 80.0, 160.0]
    panel = Panel((Series(n, [1, 2, 3]),), xscale="log", yscale="log", xticks=n,
                  right=Panel((Series(n, [3, 2, 1], label="r"),), yscale="log", ylabel="right"))
    fig = _figures.panels_figure([panel])
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.get_xticks(), n)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["40", "80", "160"]
    assert fig.axes[1].get_ylabel() == "right"


def test_early_stopping_figure_marks_each_optimum():
    tau = np.geomspace(1, 100, 30)
    curves = [_figures.EarlyStoppingCurve(n, n, tau, 1 / tau + tau ** 2 / n, (n / 2) ** (1 / 3),
                                          3 * (n / 2) ** (-1 / 3) / 2, {"a": tau ** 2 / n, "b": 1 / tau})
              for n in (1e3, 1e4)]
    fig = _figures.early_stopping_figure(curves, chosen_tau=5.0)
    ax = fig.axes[0]
    marks = [l for l in ax.get_lines() if l.get_marker() == "o"]
    assert [m.get_xdata()[0] for m in marks] == [c.tau_star for c in curves]
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_colours_are_fixed_hex_strings():
    assert _figures.colours(3, "viridis", 0.0, 1.0) == ["#440154", "#21918c", "#fde725"]  # viridis: ends and middle
    assert len(_figures.colours(5)) == 5 and _figures.colours(0) == []


# --- validators' figures ------------------------------------------------------------------------

def _stat(mean, half=0.05):
    mean = list(map(float, mean))
    return {"mean": mean, "ci95_low": [m - half for m in mean], "ci95_high": [m + half for m in mean]}


def _diffusion_data():
    """Small synthetic result objects of the four diffusion experiments (no torch needed)."""
    run = [{"generation": g, "sample_test": {"p_value": p}} for g, p in ((1, 0.5), (2, 0.2))]
    loop = {"experiment": "loop", "schemes": [
        {"scheme": name, "n_train": [100, 100, 100], "a": _stat([0.1, 0.2, 0.3 + k / 10]), "eps": _stat([0.1] * 3),
         "runs": [run]} for k, name in enumerate(("replace", "mix(lam=0.5)"))],
        "checks": [{"name": "forwarded samples follow the measured law", "tests": 4, "per_test_level": 0.0025,
                    "level": 0.01}]}
    n_real, C, alpha = 100, 1.0, 0.25
    s = [0.0, 50.0, 100.0, 200.0, 400.0]
    bound = [C * (n_real + x) ** -alpha + x / (n_real + x) * C * n_real ** -alpha for x in s]
    phase = {"experiment": "phase", "n_real": n_real,
             "rows": [{"n_synth": x, "a2": {"mean": 0.2, "ci95_low": 0.1, "ci95_high": 0.3}, "bound_a2": b}
                      for x, b in zip(s, bound)],
             "prediction": {"rate": {"C": C, "alpha": alpha}, "exists": True, "threshold": 300.0}}
    es = {"experiment": "early-stopping", "rows": [
        {"n": n, "width": n // 2, "taus": [1, 10, 100], "kl": {"mean": [1.0, 0.1, 0.5]},
         "tau_star": {"mean": 10.0 * n / 40}, "kl_star": {"mean": 0.1 * (n / 40) ** -0.4}} for n in (40, 80, 160)]}
    cal = {"experiment": "calibrate",
           "calibration": {"ns": [40, 80, 160], "eps": {"40": {"mean": 0.4}, "80": {"mean": 0.33}, "160": {"mean": 0.28}},
                           "fit": {"C": 1.0, "alpha": 0.25}},
           "held_out": [{"scheme": "replace", "n_train": [40, 40], "a": _stat([0.4, 0.5]), "bound": [0.4, 0.8]}]}
    return {"loop": loop, "phase": phase, "early-stopping": es, "calibrate": cal}


@pytest.mark.parametrize("experiment", ["loop", "phase", "early-stopping", "calibrate"])
def test_diffusion_figures_are_written_byte_identically(tmp_path, experiment):
    from boundcalc.validate.diffusion.plots import plot_experiment
    data = _diffusion_data()[experiment]
    first = plot_experiment(json.loads(json.dumps(data)), tmp_path / "a")
    second = plot_experiment(json.loads(json.dumps(data)), tmp_path / "b")
    assert [p.name for p in first] == [f"diffusion_{experiment}.png", f"diffusion_{experiment}.pdf"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()


def test_diffusion_phase_prediction_is_the_mix_bound_of_the_fitted_rate():
    """The dashed curve: a_2 <= C (n_real + s)^-alpha + s / (n_real + s) C n_real^-alpha (power-law rate)."""
    from boundcalc.validate.diffusion.plots import experiment_figure
    data = _diffusion_data()["phase"]
    ax = experiment_figure(data).axes[0]
    dense = [l for l in ax.get_lines() if l.get_linestyle() == "--"][0]
    s, f = dense.get_xdata(), dense.get_ydata()
    assert s[0] == 0 and s[-1] == pytest.approx(900.0)  # 3 times the threshold
    np.testing.assert_allclose(f, (100 + s) ** -0.25 + s / (100 + s) * 100 ** -0.25, rtol=1e-10)


def test_kde_validation_figure_is_written_byte_identically(tmp_path):
    from boundcalc.validate import kde as V
    from boundcalc.validate.plots_kde import plot_validation, validation_figure
    result = V.validate_kde(V.KDEValidationConfig(scheme="mix", generations=3, n_real=200, seeds=2, seed=1,
                                                  grid_size=1024))
    data = json.loads(result.to_json())
    first = plot_validation(data, tmp_path / "a")
    second = plot_validation(data, tmp_path / "b")
    assert [p.name for p in first] == ["kde_mix.png", "kde_mix.pdf"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()
    left = validation_figure(data).axes[0]
    composed = [l for l in left.get_lines() if l.get_label().startswith("composed bound")][0]
    np.testing.assert_allclose(composed.get_ydata(), data["summary"]["composed_bound"]["mean"])


def test_decimate_keeps_every_runs_extremes_in_order():
    """A long series is drawn through each run's smallest and largest value and the end points: the drawn
    range equals the data's, per run and overall; a short series is drawn whole."""
    import numpy as np
    from boundcalc._figures import decimate
    rng = np.random.default_rng(3)
    values = np.cumsum(rng.standard_normal(100_003))
    x, y = decimate(values, buckets=500)
    assert np.all(np.diff(x) > 0) and x[0] == 1 and x[-1] == values.size
    assert np.array_equal(y, values[x - 1])
    assert y.min() == values.min() and y.max() == values.max()
    edges = np.linspace(0, values.size, 501).astype(int)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (x - 1 >= lo) & (x - 1 < hi)
        assert y[inside].min() == values[lo:hi].min() and y[inside].max() == values[lo:hi].max()
    short = np.arange(10.0)
    assert np.array_equal(decimate(short)[1], short)
