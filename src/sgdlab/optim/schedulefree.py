"""Schedule-Free SGD and AdamW (Defazio et al. 2024): no learning-rate schedule, three sequences.

The method keeps three points per parameter: z, the plain SGD (or Adam) iterate; x, a weighted
average of the z's, which is the answer (the evaluation point); and y, an interpolation between
them, where the gradient is taken (the training point):

    y_t     = (1 - beta) z_t + beta x_t
    z_{t+1} = z_t - gamma_t g_t,                        g_t the gradient at y_t
    x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1},      c_{t+1} = gamma_t^2 / sum_{i<=t} gamma_i^2

**On the engine.** The parameter buffer holds y while training and z is the one state buffer (with
Adam's v_t for AdamW); x is never stored. It follows from the other two, x = (y - (1 - beta) z) /
beta, so a step updates y and z in one fused pass over (y, g, z):

    y_{t+1} = (1 - beta) z_{t+1} + beta x_{t+1}
            = y_t + c_{t+1} (z_t - y_t) + gamma_t (beta (1 - c_{t+1}) - 1) g_t

(substitute z_{t+1} and x_{t+1}, then x_t). ``optimizer.eval()`` moves the parameter buffer from y
to x = y + (1 - 1/beta)(z - y), ``optimizer.train()`` back to y = x + (1 - beta)(z - x): one pass over
each flat buffer, as in the authors' implementation. Steps are refused in eval mode. The mode is
stored in each param group (``"train_mode"``), so a checkpoint records which point the model's
weights are; save in eval mode to keep x.

Batch norm keeps running statistics that training computed at y; :func:`recompute_bn` recomputes
them at x (``sgdlab.train.fit`` does so itself before each evaluation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from .._validation import Instance, Int, Real, Seq, argument_error, validate
from ._engine import COPY_OF_PARAMS, EPS, L2_WEIGHT_DECAY, LR, Arg, FlatOptimizer, _scalar, apply_weight_decay

_INTERPOLATION = Real(0, 1, closed="neither")
WARMUP_STEPS = Arg("warmup_steps", Int(0), "T_warmup: gamma_t rises linearly over the first T_warmup steps, "
                   "gamma_t = gamma min(1, t / T_warmup) (0: no warm-up)")


def schedulefree_sgd_update(param: Tensor, grad: Tensor, z: Tensor, *, lr, beta, c, decay=None,
                            weight_decay=0.0) -> None:
    """Schedule-Free SGD; ``param`` holds y_t, ``lr`` is gamma_t and ``c`` is c_{t+1}."""
    # g_t <- g_t + lambda y_t    (the L2 penalty, at y where the gradient is)
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # y_{t+1} = (1 - beta) z_{t+1} + beta x_{t+1} = y_t + c (z_t - y_t) + gamma_t (beta (1 - c) - 1) g_t
    param.add_(c * (z - param) + lr * (beta * (1.0 - c) - 1.0) * grad)
    # z_{t+1} = z_t - gamma_t g_t
    z.sub_(lr * grad)


def schedulefree_adamw_update(param: Tensor, grad: Tensor, z: Tensor, exp_avg_sq: Tensor, *, lr, beta1,
                              beta2, c, eps, decay=None, weight_decay=0.0) -> None:
    """Schedule-Free AdamW; ``param`` holds y_t, ``lr`` is gamma_t (with warm-up and
    sqrt(1 - beta2^t)) and ``c`` is c_{t+1}. The weight decay (``decay="at_y"``) is lambda y_t,
    added to the normalised gradient as in the paper's z step."""
    # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    exp_avg_sq.mul_(beta2).add_((1.0 - beta2) * grad * grad)
    # u_t = g_t / (sqrt(v_t) + eps) + lambda y_t    (z_{t+1} = z_t - gamma_t u_t)
    step = grad / (exp_avg_sq.sqrt() + eps)
    if decay is not None:
        step = step + weight_decay * param
    # y_{t+1} = (1 - beta1) z_{t+1} + beta1 x_{t+1} = y_t + c (z_t - y_t) + gamma_t (beta1 (1 - c) - 1) u_t
    param.add_(c * (z - param) + lr * (beta1 * (1.0 - c) - 1.0) * step)
    # z_{t+1} = z_t - gamma_t u_t
    z.sub_(lr * step)


class _ScheduleFree(FlatOptimizer):
    """The three sequences, the averaging weights and the train/eval switch; a subclass gives the
    interpolation beta and gamma_t of its algorithm."""

    scalar_state = {"weight_sum": (0.0, torch.float64)}  # sum_{i<=t} gamma_i^2, per parameter

    def beta(self, group: dict[str, Any]) -> float:
        raise NotImplementedError

    def gamma(self, group: dict[str, Any], step: int) -> float:
        """gamma_t, the step size of z at step t, warm-up included."""
        warmup = group["warmup_steps"]
        return _scalar(group["lr"]) * (min(1.0, step / warmup) if warmup else 1.0)

    def averaging(self, group: dict[str, Any], step: int, scalars: dict[str, Tensor]) -> tuple[float, float]:
        """(gamma_t, c_{t+1}), adding gamma_t^2 to the run's weight sums."""
        gamma = self.gamma(group, step)
        weight_sum = scalars["weight_sum"]
        weight_sum.add_(gamma * gamma)
        total = float(weight_sum[0])
        return gamma, (gamma * gamma / total if total > 0.0 else 0.0)

    # ---- the two points -------------------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        # New parameters have z = x = y: they join in the mode of the others.
        param_group.setdefault("train_mode", self.param_groups[0]["train_mode"] if self.param_groups else True)
        super().add_param_group(param_group)

    @property
    def training(self) -> bool:
        """True in train mode (the parameters at y), False in eval mode (at x)."""
        return all(group["train_mode"] for group in self.param_groups)

    @torch.no_grad()
    def train(self) -> None:
        """Put the parameters at the training point y_t = x_t + (1 - beta)(z_t - x_t), where the
        gradients of the next steps are taken. Does nothing in train mode."""
        self._switch(True, lambda beta: 1.0 - beta)

    @torch.no_grad()
    def eval(self) -> None:
        """Put the parameters at the evaluation point x_t = y_t + (1 - 1/beta)(z_t - y_t), the
        average the method converges in. Does nothing in eval mode."""
        self._switch(False, lambda beta: 1.0 - 1.0 / beta)

    def _switch(self, to_train: bool, weight: Callable[[float], float]) -> None:
        for gi, group in enumerate(self.param_groups):
            if group["train_mode"] == to_train:
                continue
            w = weight(_scalar(self.beta(group)))
            for bucket in self._current_buckets(gi):
                z = bucket.state.get("z")
                if z is not None:
                    bucket.flat.lerp_(z, w)
            group["train_mode"] = to_train

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if not self.training:
            raise RuntimeError(
                f"{type(self).__name__}.step() in eval mode: the parameters are at the evaluation point x. "
                "Call optimizer.train() before training (and optimizer.eval() before evaluating).")
        return super().step(closure)


class ScheduleFreeSGD(_ScheduleFree):
    """Schedule-Free SGD: no learning-rate schedule, yet the convergence of a tuned one.

    The gradient is taken at y, an interpolation (``momentum`` beta) between the SGD iterate z and x,
    the weighted average of the z's, which is the answer: call ``optimizer.eval()`` before
    evaluating (the parameters move to x) and ``optimizer.train()`` before training again (back to
    y); ``sgdlab.train.fit`` does both. Steps start in train mode. With ``warmup_steps`` the step
    size rises linearly, and the average weights each z by gamma_t^2. Defaults are the authors'
    (lr = 1, beta = 0.9). ``weight_decay`` is the L2 penalty lambda y_t. See the module for how it sits
    on the flat buffers (one fused pass per step, x never stored).

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.ScheduleFreeSGD(model.parameters(), lr=0.5, warmup_steps=100)
        >>> opt.eval()     # before evaluating: the parameters at x
        >>> opt.train()    # before training again: at y
    """

    NAME = "schedulefree_sgd"
    paper = ("Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky 2024, The Road Less Scheduled "
             "(NeurIPS)")
    equations = """
y_t = (1 - beta) z_t + beta x_t                (the parameters while training)
z_{t+1} = z_t - gamma_t grad J(y_t),           gamma_t = eta min(1, t / T_warmup)
x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}, c_{t+1} = gamma_t^2 / sum_{i<=t} gamma_i^2
(x: the parameters in eval mode; z_1 = x_1 = y_1)
"""
    ARGS = (LR.documented("the step size eta of z (gamma_t after warm-up)"),
            Arg("momentum", _INTERPOLATION, "beta, the interpolation y = (1 - beta) z + beta x"),
            L2_WEIGHT_DECAY.documented("lambda, the L2 penalty added to the gradient at y, g_t + lambda y_t"),
            WARMUP_STEPS)
    DEFAULTS = {"paper": {"lr": 1.0, "momentum": 0.9, "weight_decay": 0.0, "warmup_steps": 0}}
    kernel = staticmethod(schedulefree_sgd_update)

    def state_names(self, group):
        return {"z": COPY_OF_PARAMS}

    def beta(self, group):
        return group["momentum"]

    def hyper(self, group, step, scalars):
        gamma, c = self.averaging(group, step, scalars)
        return {"lr": gamma, "beta": _scalar(group["momentum"]), "c": c}


class ScheduleFreeAdamW(_ScheduleFree):
    """Schedule-Free AdamW: the winner of AlgoPerf 2024's self-tuning track.

    Schedule-Free SGD's three sequences with Adam's normalisation of the z step: z moves by
    gamma_t (g_t / (sqrt(v_t) + eps) + lambda y_t), gamma_t including warm-up and Adam's bias
    correction sqrt(1 - beta2^t); there is no first moment (beta1 is the interpolation: y's momentum
    comes from averaging). ``optimizer.eval()`` / ``optimizer.train()`` switch the parameters between
    x and y as for :class:`ScheduleFreeSGD`; ``sgdlab.train.fit`` calls them. This is the paper's
    Algorithm 1; the authors' current code debiases v in the denominator instead and weights the
    average by the running maximum of gamma_t, which agree with it up to eps while lr is constant.
    Defaults are the authors' (lr = 0.0025, betas = (0.9, 0.999)).

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.ScheduleFreeAdamW(model.parameters(), lr=2.5e-3, warmup_steps=100,
        ...                                      weight_decay=1e-4)
    """

    NAME = "schedulefree_adamw"
    paper = ("Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky 2024, The Road Less Scheduled "
             "(NeurIPS), Algorithm 1")
    equations = """
y_t = (1 - beta1) z_t + beta1 x_t              (the parameters while training)
v_t = beta2 v_{t-1} + (1 - beta2) g_t^2,       g_t = grad J(y_t)
gamma_t = eta sqrt(1 - beta2^t) min(1, t / T_warmup)
z_{t+1} = z_t - gamma_t g_t / (sqrt(v_t) + eps) - gamma_t lambda y_t
x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}, c_{t+1} = gamma_t^2 / sum_{i<=t} gamma_i^2
(x: the parameters in eval mode; z_1 = x_1 = y_1)
"""
    ARGS = (LR.documented("the step size eta of z"),
            Arg("betas", Seq(_INTERPOLATION, length=2),
                "(beta1, beta2): beta1 the interpolation y = (1 - beta1) z + beta1 x, beta2 the decay rate "
                "of v_t"),
            EPS,
            Arg("weight_decay", Real(0), "lambda, the decay gamma_t lambda y_t of the z step"),
            WARMUP_STEPS)
    DEFAULTS = {"paper": {"lr": 2.5e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                          "warmup_steps": 0}}
    DECAY_MODE = {"paper": "at_y"}
    kernel = staticmethod(schedulefree_adamw_update)

    def state_names(self, group):
        return {"z": COPY_OF_PARAMS, "exp_avg_sq": 0.0}

    def beta(self, group):
        return group["betas"][0]

    def gamma(self, group, step):
        beta2 = _scalar(group["betas"][1])
        return super().gamma(group, step) * math.sqrt(1.0 - beta2 ** step)

    def hyper(self, group, step, scalars):
        gamma, c = self.averaging(group, step, scalars)
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        return {"lr": gamma, "beta1": beta1, "beta2": beta2, "c": c, "eps": _scalar(group["eps"])}


_BATCH_NORM = torch.nn.modules.batchnorm._BatchNorm


@validate(model=Instance(torch.nn.Module, what="a torch.nn.Module"),
          data=Instance(Tensor, Iterable, what="a tensor or an iterable of batches"), max_batches=(Int(1), None))
def recompute_bn(model: torch.nn.Module, data: Tensor | Iterable[Any], *, max_batches: int | None = None) -> int:
    """Recompute the running statistics of ``model``'s batch-norm layers at its current weights.

    Training leaves the running mean and variance of each batch-norm layer as averages over the
    weights training visited (Schedule-Free: the y's), not over the weights evaluated (x). This
    resets them and feeds ``data`` through the model without gradients, the batch-norm layers in
    training mode with a cumulative average (``momentum=None``), every other layer (dropout) in eval
    mode: the statistics become the exact average over the batches given. The layers' momentum and
    every module's mode are restored afterwards.

    Args:
        model: a ``torch.nn.Module``; a model without batch norm is left as it is.
        data: the inputs: one tensor (one batch), or an iterable of batches (a DataLoader, a list),
            each a tensor or an ``(inputs, targets, ...)`` sequence whose first element is the input.
            Batches are moved to the device of the model's first parameter.
        max_batches: use at most this many batches of ``data`` (None: all of them).

    Returns:
        The number of batches used (0 for a model without batch norm).

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8))
        >>> opt = sgdlab.optim.ScheduleFreeAdamW(model.parameters())
        >>> X = torch.randn(256, 3, generator=torch.Generator().manual_seed(0))
        >>> opt.eval()                                            # the weights at x
        >>> sgdlab.optim.recompute_bn(model, X.split(64))         # batch norm's statistics at x
        4
        >>> model.training                                        # its mode restored
        True
    """
    if isinstance(data, Tensor):
        data = [data]
    param = next(iter(model.parameters()), None)

    def inputs() -> Iterable[Tensor]:
        for i, batch in enumerate(data):
            if max_batches is not None and i >= max_batches:
                return
            x = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
            if not isinstance(x, Tensor):
                raise argument_error("data", batch, "tensors, or sequences whose first element is a tensor")
            yield x.to(param.device) if param is not None else x

    used = batch_norm_statistics(model, inputs())
    if used == 0 and has_batch_norm(model):
        raise argument_error("data", data, "at least one batch")
    return used


def has_batch_norm(model: torch.nn.Module) -> bool:
    """Whether ``model`` has a batch-norm layer with running statistics (to recompute)."""
    return any(isinstance(m, _BATCH_NORM) and m.track_running_stats for m in model.modules())


@torch.no_grad()
def batch_norm_statistics(model: torch.nn.Module, inputs: Iterable[Any]) -> int:
    """The work of :func:`recompute_bn`: ``model(x)`` for each of ``inputs`` as given (no checks, no
    moving), the batch-norm layers accumulating their statistics anew. The statistics are reset at the
    first input, so an empty ``inputs`` leaves them as they were. Returns the inputs used."""
    layers = [m for m in model.modules() if isinstance(m, _BATCH_NORM) and m.track_running_stats]
    if not layers:
        return 0
    modes = [(m, m.training) for m in model.modules()]
    momenta = [layer.momentum for layer in layers]
    before = [[buf.clone() for buf in layer.buffers(recurse=False)] for layer in layers]
    used = 0
    try:
        model.eval()
        for x in inputs:
            if used == 0:
                for layer in layers:
                    layer.reset_running_stats()
                    layer.momentum = None  # the cumulative average over the batches
                    layer.train()
            model(x)
            used += 1
    except BaseException:  # a bad batch half-way: the statistics are the ones it started from
        for layer, saved in zip(layers, before):
            for buf, value in zip(layer.buffers(recurse=False), saved):
                buf.copy_(value)
        raise
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        for module, training in modes:
            module.train(training)
    return used


__all__ = ["ScheduleFreeAdamW", "ScheduleFreeSGD", "recompute_bn"]
