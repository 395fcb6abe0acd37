"""Lazy access to torch: the only place the diffusion validator imports it.

No boundcalc module imports torch at import time; each function that needs it calls
:func:`torch_module`, which raises a one-line :class:`BoundcalcError` when the optional
extra is missing.
"""

from __future__ import annotations

from boundcalc._checks import BoundcalcError

INSTALL_HINT = "torch is not installed; install the validator extra: pip install 'boundcalc[validate]'"
#: torch threads used by the validator.  On the shared 2-core machine, with other jobs running,
#: one thread was measured 6-10x faster than two for this workload (many small matrix products;
#: bench/bench_diffusion.py prints both); never more than 2.
THREADS = 1
_configured = False


def torch_module():
    """Return the torch module (set to THREADS CPU threads on first use), or raise BoundcalcError."""
    global _configured
    try:
        import torch
    except ImportError:
        raise BoundcalcError(INSTALL_HINT) from None
    if not _configured:
        torch.set_num_threads(THREADS)
        limit_numpy_blas_threads(THREADS)
        _configured = True
    return torch


_BLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                 "openblas_set_num_threads64_", "openblas_set_num_threads")


def limit_numpy_blas_threads(threads: int) -> int:
    """Set the OpenBLAS libraries loaded in this process (numpy's, scipy's) to ``threads`` threads.

    The validator's numpy products are small (a (R, 3) x (3, m) embedding, m x m flows); with two
    OpenBLAS threads on the shared 2-core machine they cost twice the CPU of one thread (the second
    thread spins), measured on ``validate diffusion loop``.  Thread count does not change how
    OpenBLAS splits a product's sums, so the numbers are the same.  Linux only (the libraries are
    found in /proc/self/maps); elsewhere nothing is changed.  Returns how many libraries were set.
    """
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps
                     if "openblas" in line.lower() and line.split()[-1].startswith("/")}
    except OSError:
        return 0
    done = 0
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(int(threads))
                done += 1
                break
    return done


class single_thread:
    """Context manager: run torch on one thread (small dense LAPACK calls such as a 256 x 256
    ``eigh`` were measured 10-100x slower with two threads on a shared, loaded 2-core machine)."""

    def __enter__(self):
        torch = torch_module()
        self._threads = torch.get_num_threads()
        torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        torch_module().set_num_threads(self._threads)
        return False
