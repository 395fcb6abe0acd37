"""boundcalc.cli."""
