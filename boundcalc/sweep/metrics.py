"""Names of the metrics that the sweep report treats specially, and their figure titles.

A command that measures the final TV reports it as ``a_final``; a command that bounds it
reports ``bound_final``; the report then adds their per-seed ratio ``ratio``.
"""

MEASURED = "a_final"
BOUND = "bound_final"
RATIO = "ratio"
#: metrics preferred for the summary table and the figures, in order (the first present are shown)
PREFERRED = (MEASURED, BOUND, RATIO, "threshold", "value", "peak", "a2")
#: most lines drawn in one panel of the per-axis curves
MAX_CURVES = 8
TITLES = {MEASURED: "measured TV(p_K, p0), mean over seeds", BOUND: "bound on TV(p_K, p0), mean over seeds",
          RATIO: "measured / bound, mean over seeds", "threshold": "threshold n_synth*",
          "value": "solved value", "a2": "a_2"}
