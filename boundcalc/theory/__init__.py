"""boundcalc.theory."""
