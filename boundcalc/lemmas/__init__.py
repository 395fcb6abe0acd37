"""The lemma catalogue of THEORY.md section 3, one module per family.

Importing this package registers every lemma in :data:`boundcalc.lemma.CATALOGUE`.
"""

from importlib import import_module

for _family in ("divergence", "concentration", "kde", "diffusion"):
    try:
        import_module(f"{__name__}.{_family}")
    except ModuleNotFoundError as exc:  # a family not written yet
        if exc.name != f"{__name__}.{_family}":
            raise
