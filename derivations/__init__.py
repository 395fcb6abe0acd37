"""The derivations of boundcalc, shipped as package data (read with importlib.resources)."""
