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
        _configured = True
    return torch


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
