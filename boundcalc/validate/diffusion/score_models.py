"""Score models for the self-consuming diffusion validator (1-D data).

Forward process (convention used everywhere in this package): the Ornstein-Uhlenbeck SDE

.. math:: dx = -x\\,dt + \\sqrt{2}\\,dW,\\qquad x_t = e^{-t} x_0 + \\sigma_t z,\\quad
          \\sigma_t^2 = 1 - e^{-2t},

on ``[t_min, horizon]``; its stationary law is ``pi = N(0, 1)``, the prior of the sampler.

Two score models share one interface (``fit(x, rng)`` returns ``self``; a fitted model gives
a :class:`ScoreFunction`, ``evaluate(x, t) -> (s, ds/dx)`` in torch float64):

* :class:`RandomFeatureScore`, the model of Li et al. 2023 (docs/theory.md section 3.4, D1, [Li23]):
  ``s(x, t) = (1/m) A relu(W x + U e(t))`` with ``W`` (m,) and ``U`` (m, 3) random and frozen,
  time embedding ``e(t) = (1, e^{-t}, sigma_t)``, and ``A`` (m,) trained by gradient flow on the
  empirical denoising score-matching loss.  The loss is quadratic in ``A``, so the flow is
  solved in closed form from one eigendecomposition of the feature Gram matrix
  (derivation: ``derivations/validate-diffusion.md``, [derived]).
* :class:`MLPScore`, a small fully trained MLP (Adam), the realistic comparison.

Empirical loss (both models).  Each training point ``x_j`` gets ``draws_per_point`` fixed,
seeded draws ``(t_jk, z_jk)`` with ``t`` uniform on ``[t_min, horizon]`` and
``z ~ N(0, 1)``; with the weight ``sigma_t^2`` the denoising loss is

.. math:: L(A) = \\frac{1}{R}\\sum_{r} \\big(\\sigma_{t_r} s(x_{t_r}, t_r) + z_r\\big)^2,

R = n * draws_per_point rows (the MLP redraws ``(t, z)`` every Adam step instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from boundcalc._checks import BoundcalcError, check_positive, check_positive_int
from boundcalc.validate.diffusion._torch import single_thread, torch_module

EMBED_DIM = 3


def sigma(t):
    """sigma_t = sqrt(1 - exp(-2 t)) of the OU forward process (numpy or float)."""
    return np.sqrt(-np.expm1(-2.0 * np.asarray(t, dtype=float)))


def time_embedding(t) -> np.ndarray:
    """e(t) = (1, exp(-t), sigma_t), shape (len(t), 3)."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    return np.column_stack([np.ones_like(t), np.exp(-t), sigma(t)])


def draw_times(rng: np.random.Generator, size: int, t_min: float, horizon: float) -> np.ndarray:
    """Uniform diffusion times on [t_min, horizon] (uniform beat log-uniform in trial runs)."""
    return t_min + (horizon - t_min) * rng.random(size)


def phi1(z):
    """(1 - exp(-z)) / z, equal to 1 at z = 0 (stable for tiny z)."""
    z = np.asarray(z, dtype=float)
    out = np.ones_like(z)
    big = np.abs(z) > 1e-12
    out[big] = -np.expm1(-z[big]) / z[big]
    return out


class ScoreFunction:
    """A fitted score ``s(x, t)`` with its exact x-derivative (the 1-D divergence)."""

    def evaluate(self, x, t: float):  # pragma: no cover - interface
        raise NotImplementedError


class RandomFeatureScoreFunction(ScoreFunction):
    """``s(x, t) = (1/m) sum_k A_k relu(W_k x + c_k(t))``, ``ds/dx = (1/m) sum_k A_k W_k 1[W_k x + c_k > 0]``.

    Two evaluations of the same function:

    * ``method="breakpoints"`` (default, 1-D only): at a fixed t the score is piecewise linear in
      x with kinks at ``b_k = -c_k / W_k``.  Unit k is active iff ``x > b_k`` (W_k > 0) or
      ``x < b_k`` (W_k < 0), so with the kinks sorted, prefix sums of ``A_k W_k / m`` and
      ``A_k c_k / m`` give ``s = alpha(x) x + beta(x)`` and ``ds/dx = alpha(x)`` by one binary search
      per point: O(N log m) instead of O(N m).  The sorted tables are cached per t (the ODE
      reuses one time grid).
    * ``method="dense"``: the N x m pre-activation matrix and two matrix-vector products (the
      reference; the tests check that both agree).
    """

    def __init__(self, W: np.ndarray, U: np.ndarray, A: np.ndarray, method: str = "breakpoints"):
        torch = torch_module()
        self.width = W.shape[0]
        self.method = method
        self._Wn, self._U, self._An = np.asarray(W, float), np.asarray(U, float), np.asarray(A, float)
        self._W = torch.as_tensor(W, dtype=torch.float64)
        self._A = torch.as_tensor(A / self.width, dtype=torch.float64)
        self._AW = torch.as_tensor(A * W / self.width, dtype=torch.float64)
        self._tables: dict = {}
        self._tables_np: dict = {}
        self._suffix: dict = {}
        if method == "breakpoints":  # the ODE integrators use the numpy path (same numbers)
            self.evaluate_numpy = self._evaluate_numpy

    def _c(self, t: float) -> np.ndarray:
        e = np.exp(-t)
        return self._U @ np.array([1.0, e, np.sqrt(1.0 - e * e)])

    def _table_numpy(self, t: float):
        """The sorted kink tables at time t as numpy arrays: ([(kinks, slope prefix sums,
        intercept prefix sums) for W > 0 and for W < 0], constant of the W = 0 units); cached."""
        table = self._tables_np.get(t)
        if table is None:
            c, W, A, m = self._c(t), self._Wn, self._An, self.width
            parts = []
            for mask in (W > 0, W < 0):
                kinks = -c[mask] / W[mask]
                order = np.argsort(kinks, kind="stable")
                slope = np.concatenate([[0.0], np.cumsum((A * W / m)[mask][order])])
                icpt = np.concatenate([[0.0], np.cumsum((A * c / m)[mask][order])])
                parts.append((np.ascontiguousarray(kinks[order]), slope, icpt))
            flat = (W == 0) & (c > 0)
            const = float(np.sum((A * c / m)[flat]))
            table = (parts, const)
            if len(self._tables_np) < 4096:
                self._tables_np[t] = table
        return table

    def _table(self, t: float):
        table = self._tables.get(t)
        if table is None:
            torch = torch_module()
            parts, const = self._table_numpy(t)
            table = ([tuple(torch.from_numpy(a) for a in part) for part in parts], const)
            if len(self._tables) < 4096:
                self._tables[t] = table
        return table

    def _evaluate_numpy(self, x: np.ndarray, t: float):
        """``(s(x, t), ds/dx)`` for a numpy array ``x`` by the kink tables: the same operations,
        in the same order, as the torch path of :meth:`evaluate` (so the same numbers), without
        torch's per-call overhead (the ODE calls this 160 times per pass on small arrays)."""
        pos, neg, const = self._suffix_table(float(t))
        k_pos = np.searchsorted(pos[0], x, side="left")       # kinks b < x: active units with W > 0
        k_neg = np.searchsorted(neg[0], x, side="right")      # kinks b <= x: inactive units with W < 0
        slope = pos[1].take(k_pos) + neg[1].take(k_neg)
        icpt = pos[2].take(k_pos) + neg[2].take(k_neg) + const
        return slope * x + icpt, slope

    def _suffix_table(self, t: float):
        """The tables of :meth:`_table_numpy` with the W < 0 prefix sums turned into the sums over
        the units still active, ``total - prefix`` (the subtraction the torch path does per point,
        done once per table: the same numbers)."""
        table = self._suffix.get(t)
        if table is None:
            (pos, neg), const = self._table_numpy(t)
            table = (pos, (neg[0], neg[1][-1] - neg[1], neg[2][-1] - neg[2]), const)
            if len(self._suffix) < 4096:
                self._suffix[t] = table
        return table

    def evaluate(self, x, t: float):
        torch = torch_module()
        if self.method == "dense":
            c = torch.as_tensor(self._c(t), dtype=torch.float64)
            pre = torch.addr(c.expand(x.shape[0], -1), x, self._W)  # x W^T + c
            mask = (pre > 0).to(torch.float64)
            return (pre * mask) @ self._A, mask @ self._AW
        (pos, neg), const = self._table(float(t))
        k_pos = torch.searchsorted(pos[0], x, side="left")     # kinks b < x: active units with W > 0
        k_neg = torch.searchsorted(neg[0], x, side="right")    # kinks b <= x: inactive units with W < 0
        slope = pos[1][k_pos] + (neg[1][-1] - neg[1][k_neg])
        icpt = pos[2][k_pos] + (neg[2][-1] - neg[2][k_neg]) + const
        return slope * x + icpt, slope


@dataclass(frozen=True)
class FlowSolution:
    """A(tau) for a grid of training times (rows), from one eigendecomposition."""
    taus: np.ndarray
    coefficients: np.ndarray


class RandomFeatureScore:
    """Random-feature score model of Li et al. 2023 with closed-form gradient flow [Li23, derived].

    Parameters
    ----------
    width : int
        m, the number of random features.
    horizon, t_min : float
        The forward process runs on [t_min, horizon].
    draws_per_point : int
        Fixed (t, z) draws per training point in the empirical loss.
    weight_scale, bias_scale : float
        W_k ~ N(0, weight_scale^2); the three columns of U ~ N(0, bias_scale^2),
        N(0, bias_scale^2), N(0, 1): relu kinks spread over the data range.
    rng : numpy Generator
        Draws W and U (frozen).

    Notes
    -----
    With features ``phi_r = sigma_{t_r} relu(W x_r + U e(t_r))`` (r over the R rows), the loss
    is ``L(A) = A^T G A / m^2 - 2 A^T b / m + mean(z^2)`` with ``G = Phi^T Phi / R`` and
    ``b = -Phi^T z / R``.  Gradient flow with time scaled by m/2,
    ``dA/dtau = -(m/2) grad L = b - G A / m``, has the solution, in the eigenbasis
    ``G = V diag(lambda) V^T``,

    .. math:: V^T A(\\tau) = e^{-\\tau\\lambda/m} V^T A_0
              + \\tau\\,\\varphi_1(\\tau\\lambda/m)\\,V^T b,\\qquad \\varphi_1(z) = (1-e^{-z})/z,

    so components with lambda = 0 stay at A_0 (b has no component there).  The time scaling
    makes the function-space kernel (1/m) phi^T phi', which is O(1), the rate of the flow.
    """

    def __init__(self, width: int = 256, horizon: float = 5.0, t_min: float = 1e-3,
                 draws_per_point: int = 4, weight_scale: float = 1.0, bias_scale: float = 3.0,
                 rng: np.random.Generator | None = None):
        self.width = check_positive_int("width", width)
        self.horizon = check_positive("horizon", horizon)
        self.t_min = check_positive("t_min", t_min)
        if self.t_min >= self.horizon:
            raise BoundcalcError(f"t_min must be in (0, horizon = {horizon}), got {t_min}")
        self.draws_per_point = check_positive_int("draws_per_point", draws_per_point)
        rng = np.random.default_rng(0) if rng is None else rng
        self.W = weight_scale * rng.standard_normal(self.width)
        self.U = rng.standard_normal((self.width, EMBED_DIM)) * np.array([bias_scale, bias_scale, 1.0])
        self.initial = np.zeros(self.width)

    # -- features ------------------------------------------------------------------------
    def _draws(self, x, rng: np.random.Generator):
        """The fixed (t, z) draws of every row and the noised points x_t = e^-t x + sigma_t z."""
        x0 = np.repeat(np.asarray(x, dtype=float).ravel(), self.draws_per_point)
        t = draw_times(rng, x0.size, self.t_min, self.horizon)
        z = rng.standard_normal(x0.size)
        sig = sigma(t)
        return np.exp(-t) * x0 + sig * z, t, sig, z

    def _features(self, xt, t, sig):
        torch = torch_module()
        pre = torch.as_tensor(time_embedding(t) @ self.U.T)
        pre.addr_(torch.as_tensor(xt), torch.as_tensor(self.W))  # x W^T + c, in the buffer of c
        pre.relu_()  # in place: the same numbers as relu(pre) * sig, without (R, m) temporaries
        return pre.mul_(torch.as_tensor(sig)[:, None])

    def design(self, x: np.ndarray, rng: np.random.Generator):
        """Rows (sigma_t phi(x_t, t), -z) of the empirical loss: Phi (R, m), target (R,)."""
        torch = torch_module()
        xt, t, sig, z = self._draws(x, rng)
        return self._features(xt, t, sig), torch.as_tensor(-z)

    def _moments(self, x, rng: np.random.Generator, chunk: int = 16384):
        """G = Phi^T Phi / R, b = Phi^T (-z) / R and mean(z^2), accumulated over row chunks."""
        torch = torch_module()
        xt, t, sig, z = self._draws(x, rng)
        rows = xt.size
        G = torch.zeros((self.width, self.width), dtype=torch.float64)
        b = torch.zeros(self.width, dtype=torch.float64)
        for lo in range(0, rows, chunk):
            Phi = self._features(xt[lo:lo + chunk], t[lo:lo + chunk], sig[lo:lo + chunk])
            G += Phi.T @ Phi
            b += Phi.T @ torch.as_tensor(-z[lo:lo + chunk])
        return (G / rows).numpy(), (b / rows).numpy(), float(z @ z / rows), rows

    def fit(self, x, rng: np.random.Generator) -> "RandomFeatureScore":
        """Build G and b from the training points and eigendecompose G (one O(m^3) step)."""
        torch = torch_module()
        if np.asarray(x).size < 1:
            raise BoundcalcError("training set must hold at least 1 point")
        self.gram_, self.cross_, self.target_second_moment_, self.n_rows_ = self._moments(x, rng)
        with single_thread():
            evals, evecs = torch.linalg.eigh(torch.as_tensor(self.gram_))
        self.eigenvalues_ = np.clip(evals.numpy(), 0.0, None)
        self.eigenvectors_ = evecs.numpy()
        return self

    # -- gradient flow ---------------------------------------------------------------------
    def flow(self, taus) -> FlowSolution:
        """A(tau) for every tau in ``taus`` from the one eigendecomposition of :meth:`fit`."""
        taus = np.atleast_1d(np.asarray(taus, dtype=float))
        if np.any(taus < 0):
            raise BoundcalcError(f"tau must be >= 0, got {taus.min()}")
        V, lam, m = self.eigenvectors_, self.eigenvalues_, self.width
        c0 = V.T @ self.initial
        cb = V.T @ self.cross_
        z = taus[:, None] * lam[None, :] / m
        coef = np.exp(-z) * c0[None, :] + taus[:, None] * phi1(z) * cb[None, :]
        return FlowSolution(taus, coef @ V.T)

    def coefficients(self, tau: float) -> np.ndarray:
        return self.flow([tau]).coefficients[0]

    def minimiser(self) -> np.ndarray:
        """A* = m G^+ b (the tau -> infinity limit from A_0 = 0)."""
        V, lam = self.eigenvectors_, self.eigenvalues_
        inv = np.where(lam > lam.max() * 1e-13, 1.0 / np.where(lam > 0, lam, 1.0), 0.0)
        return self.width * V @ (inv * (V.T @ self.cross_))

    def gradient_descent(self, tau: float, steps: int) -> np.ndarray:
        """Explicit Euler steps of the same flow, A <- A + (tau/steps)(b - G A / m): the reference."""
        eta = tau / check_positive_int("steps", steps)
        A = self.initial.copy()
        G, b, m = self.gram_, self.cross_, self.width
        for _ in range(steps):
            A = A + eta * (b - G @ A / m)
        return A

    def loss(self, A) -> float:
        """L(A) = A^T G A / m^2 - 2 A^T b / m + mean(z^2) on the training rows."""
        m = self.width
        return float(A @ self.gram_ @ A / m ** 2 - 2.0 * A @ self.cross_ / m + self.target_second_moment_)

    def held_out_losses(self, x_val, rng: np.random.Generator, taus) -> np.ndarray:
        """The denoising loss of A(tau) on held-out points (their own seeded (t, z) draws).

        One quadratic form per tau: ``A^T G_v A / m^2 - 2 A^T b_v / m + mean(z_v^2)``.
        """
        Gv, bv, cv, _ = self._moments(x_val, rng)
        A = self.flow(taus).coefficients
        m = self.width
        return np.einsum("ij,jk,ik->i", A, Gv, A) / m ** 2 - 2.0 * A @ bv / m + cv

    def score_function(self, tau: float, method: str = "breakpoints") -> RandomFeatureScoreFunction:
        return RandomFeatureScoreFunction(self.W, self.U, self.coefficients(tau), method)

    def score_function_from(self, A: np.ndarray, method: str = "breakpoints") -> RandomFeatureScoreFunction:
        return RandomFeatureScoreFunction(self.W, self.U, np.asarray(A, dtype=float), method)


class MLPScoreFunction(ScoreFunction):
    """A trained MLP score; ds/dx by automatic differentiation (exact, not a trace estimate)."""

    def __init__(self, net, device: str = "cpu"):
        self.net = net
        self.device = device

    def evaluate(self, x, t: float):
        torch = torch_module()
        emb = torch.as_tensor(time_embedding(t)[0], dtype=torch.float64, device=self.device)
        with torch.enable_grad():
            xg = x.detach().to(self.device).clone().requires_grad_(True)
            inp = torch.cat([xg[:, None], emb.expand(x.shape[0], -1)], dim=1)
            s = self.net(inp)[:, 0]
            (ds,) = torch.autograd.grad(s.sum(), xg)
        return s.detach().to(x.device), ds.detach().to(x.device)


class MLPScore:
    """A small MLP score network ``s(x, e(t))`` trained with Adam on the weighted denoising loss.

    Two hidden layers of ``hidden`` SiLU units; float64; ``steps`` Adam steps on mini-batches
    of ``batch`` training points with fresh (t, z) draws per step (seeded by ``rng``), on the
    torch ``device`` (network, data and generator; "cpu" or "cuda").
    """

    def __init__(self, hidden: int = 64, steps: int = 1500, batch: int = 256, learning_rate: float = 3e-3,
                 horizon: float = 5.0, t_min: float = 1e-3, rng: np.random.Generator | None = None,
                 device: str = "cpu"):
        self.hidden = check_positive_int("hidden", hidden)
        self.steps = check_positive_int("steps", steps)
        self.batch = check_positive_int("batch", batch)
        self.learning_rate = check_positive("learning_rate", learning_rate)
        self.horizon = check_positive("horizon", horizon)
        self.t_min = check_positive("t_min", t_min)
        self._seed = int((np.random.default_rng(0) if rng is None else rng).integers(2 ** 62))
        self.device = device

    def fit(self, x, rng: np.random.Generator) -> "MLPScore":
        torch = torch_module()
        device = self.device
        gen = torch.Generator(device=device).manual_seed(self._seed)
        torch_state = torch.random.get_rng_state()
        torch.manual_seed(self._seed)  # parameter initialisation is seeded, then restored
        net = torch.nn.Sequential(
            torch.nn.Linear(1 + EMBED_DIM, self.hidden), torch.nn.SiLU(),
            torch.nn.Linear(self.hidden, self.hidden), torch.nn.SiLU(),
            torch.nn.Linear(self.hidden, 1)).to(torch.float64).to(device)
        torch.random.set_rng_state(torch_state)
        data = torch.as_tensor(np.asarray(x, dtype=float).ravel(), device=device)
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        losses = []
        for _ in range(self.steps):
            idx = torch.randint(0, data.shape[0], (self.batch,), generator=gen, device=device)
            t = self.t_min + (self.horizon - self.t_min) * torch.rand(self.batch, generator=gen, dtype=torch.float64,
                                                                      device=device)
            z = torch.randn(self.batch, generator=gen, dtype=torch.float64, device=device)
            sig = torch.sqrt(-torch.expm1(-2 * t))
            xt = torch.exp(-t) * data[idx] + sig * z
            emb = torch.stack([torch.ones_like(t), torch.exp(-t), sig], dim=1)
            s = net(torch.cat([xt[:, None], emb], dim=1))[:, 0]
            loss = torch.mean((sig * s + z) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        self.net_ = net
        self.final_loss_ = float(np.mean(losses[-50:]))
        return self

    def score_function(self, tau=None) -> MLPScoreFunction:
        return MLPScoreFunction(self.net_, self.device)
