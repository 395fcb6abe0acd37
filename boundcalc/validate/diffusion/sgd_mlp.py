"""The MLP score network trained by SGD, with training time in epochs: Li et al.'s own 1-D
early-stopping experiment (``validate diffusion early-stopping --model mlp-sgd``, not in the
default run).

Setting (Li et al. 2023, section on numerical verification: a two-mode target with modes 6 apart,
n = 1000 points, an MLP score network, KL to the target along the training epochs): the target is
the default ``bimodal`` (modes at -+3, unit scales); the score network is :mod:`.score_models`'
MLP ``s(x, e(t))`` (two hidden SiLU layers of ``mlp_hidden`` units, float64, time embedding
``e(t) = (1, e^{-t}, sigma_t)``), trained on the weighted denoising loss
``mean (sigma_t s(x_t, t) + z)^2`` by minibatch SGD: one epoch is one pass over a seeded random
permutation of the n points in minibatches of :data:`BATCH`, each point with a fresh (t, z) draw,
learning rate :data:`LEARNING_RATE` with heavy-ball momentum :data:`MOMENTUM`.  (The optimizer of
Li et al.'s code could not be confirmed from the sources at hand; SGD is what the issue names.)

At each epoch of a geometric grid 1..``mlp_epochs`` (:func:`epoch_grid`) the network's law is
measured exactly as the random-feature model's: the probability-flow ODE sampler's cell
probabilities by certified inversion (:func:`boundcalc.validate.diffusion.ode.cell_probabilities`),
the validity gate, the cell KL(p0 || p_epoch) after merging unresolved cells, and the TV.  The
record has the fields of the random-feature sweep (``taus`` are the epochs), so the same checks
(KL finite and >= 0, TV in [0, 1], an interior minimum, rate slopes over n) apply.

Reproducible: every draw comes from a torch generator seeded from the unit's ``SeedSequence``;
the parameter initialisation is seeded and the global torch state restored; torch runs on the
validator's CPU threads (:mod:`._torch`).  Same seed, same bytes.
"""

from __future__ import annotations

import math

import numpy as np

from boundcalc._checks import check_positive_int
from boundcalc.validate.diffusion._torch import torch_module
from boundcalc.validate.diffusion.score_models import EMBED_DIM, MLPScoreFunction

#: minibatch size, learning rate and momentum of the SGD
BATCH = 100
LEARNING_RATE = 0.03
MOMENTUM = 0.9
#: points of the geometric epoch grid (rounded to integers, duplicates dropped)
EPOCH_POINTS = 13
#: the training time is counted in epochs (the unit of the ``taus`` of its records)
TIME_UNIT = "epochs of SGD"


def epoch_grid(epochs: int, points: int = EPOCH_POINTS) -> list[int]:
    """The epochs at which the law is measured: ``round(geomspace(1, epochs, points))`` without repeats.

    >>> epoch_grid(100, 5)
    [1, 3, 10, 32, 100]
    """
    epochs = check_positive_int("mlp_epochs", epochs)
    return sorted({int(round(v)) for v in np.geomspace(1, epochs, points)})


def train_with_checkpoints(x, hidden: int, epochs: list[int], seed: int, t_min: float, horizon: float,
                           at_checkpoint) -> float:
    """Train the MLP by minibatch SGD for ``max(epochs)`` epochs, calling ``at_checkpoint(epoch,
    score_function)`` after each epoch listed in ``epochs``; returns the mean loss of the last epoch."""
    torch = torch_module()
    gen = torch.Generator().manual_seed(int(seed))
    state = torch.random.get_rng_state()
    torch.manual_seed(int(seed))  # parameter initialisation is seeded, then the global state restored
    net = torch.nn.Sequential(
        torch.nn.Linear(1 + EMBED_DIM, hidden), torch.nn.SiLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
        torch.nn.Linear(hidden, 1)).to(torch.float64)
    torch.random.set_rng_state(state)
    data = torch.as_tensor(np.asarray(x, dtype=float).ravel())
    n = data.shape[0]
    opt = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    wanted, last = set(epochs), math.nan
    for epoch in range(1, max(epochs) + 1):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, BATCH):
            idx = perm[start:start + BATCH]
            b = idx.shape[0]
            t = t_min + (horizon - t_min) * torch.rand(b, generator=gen, dtype=torch.float64)
            z = torch.randn(b, generator=gen, dtype=torch.float64)
            sig = torch.sqrt(-torch.expm1(-2 * t))
            xt = torch.exp(-t) * data[idx] + sig * z
            emb = torch.stack([torch.ones_like(t), torch.exp(-t), sig], dim=1)
            loss = torch.mean((sig * net(torch.cat([xt[:, None], emb], dim=1))[:, 0] + z) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * b
        last = total / n
        if epoch in wanted:
            at_checkpoint(epoch, MLPScoreFunction(net))
    return last


def early_stopping_sgd_unit(options, n: int, k: int) -> dict:
    """One seeded epoch sweep at training size n (the record of the random-feature sweep, with the
    epochs as ``taus``); seeded like the random-feature unit: ``(seed, k, 3, n)``."""
    from boundcalc.validate.diffusion import ode
    from boundcalc.validate.diffusion.fits import _kl, _refine_minimum
    from boundcalc.validate.diffusion.loop import _rng, gate_columns, sweep_data, validity
    from boundcalc.validate.grid import tv_of_probabilities

    config = options.config
    data = sweep_data(config, options.seed, n, k)
    edges, p0, x = data.edges, data.p0, data.x
    seed = int(_rng(*data.keys, 1).integers(2 ** 62))
    epochs = epoch_grid(config.mlp_epochs)
    kl, tv, gates = [], [], []

    def measure(epoch, score):
        cells = ode.cell_probabilities(score, edges, config.t_min, config.horizon, config.steps,
                                       u_points=config.u_points)
        gate = validity(cells)
        gates.append(gate)
        kl.append(_kl(p0, cells.probabilities) if gate["measured"] else math.nan)
        tv.append(tv_of_probabilities(cells.probabilities, p0) if gate["measured"] else math.nan)

    final_loss = train_with_checkpoints(x, config.mlp_hidden, epochs, seed, config.t_min, config.horizon, measure)
    tau_star, kl_star = _refine_minimum(np.log(np.asarray(epochs, dtype=float)), np.asarray(kl, dtype=float))
    return {"n": n, "width": config.mlp_hidden, "taus": epochs, "time_unit": TIME_UNIT, "kl": kl, "tv": tv,
            **gate_columns(gates),
            "final_training_loss": final_loss, "tau_star": tau_star, "kl_star": kl_star}
