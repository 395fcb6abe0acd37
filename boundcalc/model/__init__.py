"""boundcalc.model."""
