"""boundcalc.document."""
