"""Summaries over seeds and the plain-text table shared by the validators.

* :func:`summarize_over_seeds`: per-generation mean, standard error, a 95% interval for the
  mean (Student t; or, for a quantity with a range such as a TV in [0, 1] or a KL >= 0, the
  bootstrap percentile interval, which stays in the range) and the 2.5%-97.5% spread of the
  seeds (NaN entries, i.e. runs that stopped on degenerate data, are left out and counted);
* :func:`format_table`: the readable plain-text table printed by default;
* :func:`nan_to_none` / :func:`none_to_nan`: arrays with missing entries to and from JSON.
"""

from __future__ import annotations

import math

import numpy as np


from boundcalc._stats import BOOTSTRAP_INTERVAL, BOOTSTRAP_RESAMPLES, bootstrap_mean_interval  # noqa: F401

T_INTERVAL = "Student t on the mean (mean -+ t_{0.975,S-1} se)"


def summarize_over_seeds(values, ranged: bool = False) -> dict:
    """Per-column summary of a (seeds, generations) array; NaN means "no value".

    Returns lists (one entry per generation): ``mean``, ``se`` (standard error of the mean),
    ``ci95_low``/``ci95_high`` (mean -+ t_{0.975, S-1} se; with ``ranged=True``, for a
    quantity with a range such as a TV or a KL, the bootstrap percentile interval of
    :func:`bootstrap_mean_interval`, which never leaves the range of the values),
    ``q025``/``q975`` (empirical quantiles of the seeds, linear interpolation) and ``count``
    (seeds with a value), and ``interval`` (a string naming the interval used).
    A column with one value has se and interval NaN; a column with none is all NaN.

    >>> s = summarize_over_seeds([[1.0], [3.0]])
    >>> s["mean"], s["count"], round(s["se"][0], 12)
    ([2.0], [2], 1.0)
    """
    values = np.atleast_2d(np.asarray(values, dtype=float))
    out = {key: [] for key in ("mean", "se", "ci95_low", "ci95_high", "q025", "q975", "count")}
    out["interval"] = BOOTSTRAP_INTERVAL if ranged else T_INTERVAL
    for column in values.T:
        finite = column[np.isfinite(column)]
        k = finite.size
        out["count"].append(int(k))
        if k == 0:
            for key in ("mean", "se", "ci95_low", "ci95_high", "q025", "q975"):
                out[key].append(math.nan)
            continue
        mean = float(np.mean(finite))
        out["mean"].append(mean)
        out["q025"].append(float(np.quantile(finite, 0.025)))
        out["q975"].append(float(np.quantile(finite, 0.975)))
        if k > 1:
            se = float(np.std(finite, ddof=1) / np.sqrt(k))
            from scipy.special import stdtrit  # = scipy.stats.t.ppf, without importing scipy.stats
            half = float(stdtrit(k - 1, 0.975)) * se
        else:
            se = half = math.nan
        out["se"].append(se)
        if ranged and k > 1:
            low, high = bootstrap_mean_interval(finite)
        else:
            low, high = mean - half, mean + half
        out["ci95_low"].append(low)
        out["ci95_high"].append(high)
    return out


def format_table(headers, rows, title: str | None = None) -> str:
    """A plain-text table; floats are printed with 4 significant digits, None/NaN as '-'."""

    def cell(v):
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return "-"
        if isinstance(v, (float, np.floating)):
            return f"{float(v):.4g}"
        return str(v)

    text_rows = [[cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[k]) for r in text_rows)) if text_rows else len(str(h))
              for k, h in enumerate(headers)]
    lines = []
    if title:
        lines.append(title)
    lines.append("  ".join(str(h).rjust(w) for h, w in zip(headers, widths)))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in text_rows)
    return "\n".join(lines)


def interval_text(low, high) -> str:
    """A 95% interval as the tables print it, ``[low, high]`` with 4 decimals, or '-' when a side is missing."""
    return "-" if low is None or high is None else f"[{low:.4f}, {high:.4f}]"


def nan_to_none(values):
    """A list of floats with NaN replaced by None (JSON null)."""
    return [None if (v is None or not math.isfinite(float(v))) else float(v) for v in values]


def none_to_nan(values) -> np.ndarray:
    """Inverse of :func:`nan_to_none`."""
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)
