"""boundcalc.bounds."""
