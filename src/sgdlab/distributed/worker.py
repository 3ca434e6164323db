"""The worker's side of each algorithm, independent of Ray: a model replica and the loops.

* :class:`Replica`: a copy of the model with its shard of the data; flat parameters in, the loss and
  the flat gradient of the step's minibatch out. Minibatch ``s`` of a data stream is fixed by
  ``(seed, stream, s)``: each epoch of the shard is a fresh seeded permutation, so a replacement
  worker resumes the stream exactly where the one it replaces stopped.
* :class:`LocalShards`: the servers in this process (tests, the serial baseline, the simulation);
  the Ray shard client (``_actors.RayShards``) has the same three methods: ``call`` (start a call,
  get a future), ``ready`` and ``get``.
* The loops: :func:`downpour_loop` (Downpour SGD and delay-tolerant AdaGrad), :func:`easgd_loop`
  (asynchronous EASGD / EAMSGD), and the pieces of the synchronous rounds, :func:`sync_sgd_step`,
  :class:`ElasticWorker` and :func:`diloco_round` with its :class:`InnerTrainer`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .._validation import Int, argument_error, check
from ..train._data import Data


class Replica:
    """A model replica and a shard of the training data.

    Args:
        model: any ``torch.nn.Module``; its parameters that require gradients, flattened in
            ``model.parameters()`` order, are the vector the servers share.
        loss_fn: ``loss_fn(model(X), y)`` -> the batch's mean loss (a scalar tensor).
        data: ``(X, y)`` (tensors, NumPy arrays, scipy.sparse X) or a map-style Dataset, as
            ``sgdlab.train.fit`` takes.
        batch_size: examples per minibatch (the last of an epoch may be smaller).
        seed, stream: the minibatch order; ``stream`` tells the workers' shards apart.

    Example:
        >>> import torch
        >>> from sgdlab.distributed.worker import Replica
        >>> X = torch.randn(10, 3); y = X.sum(1, keepdim=True)
        >>> r = Replica(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, (X, y), batch_size=4)
        >>> loss, g = r.gradient(r.flat(), step=0)
        >>> g.shape, r.batches_per_epoch
        ((4,), 3)
    """

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[Any, Any], Any], data: Any, *,
                 batch_size: int, seed: int = 0, stream: int = 0) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise argument_error("model", model, "a module with parameters that require gradients")
        self.data = data if isinstance(data, Data) else Data(data, "train")
        self.batch_size = min(check("batch_size", batch_size, Int(1)), len(self.data))
        self.batches_per_epoch = math.ceil(len(self.data) / self.batch_size)
        self.seed, self.stream = seed, stream
        self.dtype = self.params[0].dtype
        self._epoch, self._order = -1, np.arange(0)

    @property
    def size(self) -> int:
        """Length of the flat parameter vector."""
        return sum(p.numel() for p in self.params)

    def flat(self) -> np.ndarray:
        """The replica's parameters as one flat array (a copy)."""
        return torch.nn.utils.parameters_to_vector(self.params).detach().cpu().numpy().copy()

    def load(self, x: np.ndarray) -> None:
        """Set the replica's parameters from a flat array, in place (an optimizer holding them, whose
        buffers they may view, keeps them)."""
        vec = torch.as_tensor(x).to(self.dtype).to(self.params[0].device)
        offset = 0
        with torch.no_grad():
            for p in self.params:
                p.copy_(vec[offset:offset + p.numel()].view_as(p))
                offset += p.numel()

    def batch_indices(self, step: int) -> np.ndarray:
        """The rows of this shard in minibatch ``step`` of the stream."""
        epoch, i = divmod(step, self.batches_per_epoch)
        if epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, self.stream, epoch]).permutation(len(self.data))
            self._epoch = epoch
        return self._order[i * self.batch_size:(i + 1) * self.batch_size]

    def gradient(self, x: np.ndarray, step: int) -> tuple[float, np.ndarray]:
        """The loss of minibatch ``step`` at parameters ``x`` and its flat gradient."""
        self.load(x)
        value = self.backward(step)
        grads = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self.params]
        return value, torch.cat(grads).detach().cpu().numpy()

    def backward(self, step: int) -> float:
        """The loss of minibatch ``step`` at the replica's parameters as they are; its gradient is
        left in each parameter's ``.grad`` (for an optimizer to step)."""
        self.model.train()
        for p in self.params:
            p.grad = None
        xb, yb = self.data.batch(self.batch_indices(step), self.params[0].device)
        loss = self.loss_fn(self.model(xb), yb)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise argument_error("loss_fn", self.loss_fn, f"a function returning a scalar tensor (the batch's mean "
                                 f"loss), not {got}")
        loss = loss.reshape(())
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"the training loss is {value} at minibatch {step} of stream "
                                     f"{self.stream}: training diverged; try a lower learning rate")
        loss.backward()
        return value


class _Done:
    """A future that is already resolved (the in-process transport)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class LocalShards:
    """The servers in this process, behind the shard-client interface the loops use.

    ``call(k, method, *args)`` runs ``servers[k].method(*args)`` at once; ``ready`` is always True.
    """

    def __init__(self, servers: Sequence[Any], bounds: Sequence[int]) -> None:
        if len(bounds) != len(servers) + 1:
            raise argument_error("bounds", bounds, f"{len(servers) + 1} offsets, for the {len(servers)} servers")
        self.servers = list(servers)
        self.bounds = list(bounds)

    def call(self, k: int, method: str, *args: Any) -> _Done:
        return _Done(getattr(self.servers[k], method)(*args))

    def ready(self, futures: Sequence[_Done]) -> bool:
        return True

    def get(self, futures: Sequence[_Done]) -> list[Any]:
        return [f.value for f in futures]


class Stats:
    """What a worker measures: steps, losses, time computing gradients and time waiting."""

    def __init__(self) -> None:
        self.steps = 0
        self.losses: list[float] = []
        self.compute_s = 0.0
        self.wait_s = 0.0
        self.staleness: Counter[int] = Counter()

    def as_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "losses": list(self.losses), "compute_s": self.compute_s,
                "wait_s": self.wait_s}


def _slices(x: np.ndarray, bounds: Sequence[int]) -> list[np.ndarray]:
    return [x[bounds[k]:bounds[k + 1]] for k in range(len(bounds) - 1)]


def read_all(shards: Any, worker: int, stats: Stats | None = None) -> tuple[np.ndarray, list[int]]:
    """Read every shard (blocking): the flat parameters and each shard's version."""
    tick = time.perf_counter()
    results = shards.get([shards.call(k, "read", worker) for k in range(len(shards.bounds) - 1)])
    if stats is not None:
        stats.wait_s += time.perf_counter() - tick
    return np.concatenate([r[0] for r in results]), [int(r[1]) for r in results]


def _timed_gradient(replica: Replica, x: np.ndarray, step: int, stats: Stats) -> np.ndarray:
    tick = time.perf_counter()
    loss, g = replica.gradient(x, step)
    stats.compute_s += time.perf_counter() - tick
    stats.steps += 1
    stats.losses.append(loss)
    return g


def downpour_loop(replica: Replica, shards: Any, worker: int, start: int, steps: int, *, n_fetch: int = 1,
                  n_push: int = 1, local_lr: float = 0.0, max_inflight: int = 2) -> dict[str, Any]:
    """Downpour SGD's client (Dean et al. 2012, the DistBelief paper's Algorithm 7.1), steps
    ``start .. start + steps - 1`` of this worker's stream:

        every n_fetch steps:  start fetching the parameters (asynchronously)
        each step:            g = gradient(parameters, next minibatch)
                              accrued <- accrued + g
                              parameters <- parameters - local_lr * g
        every n_push steps:   start pushing accrued (asynchronously); accrued <- 0

    A fetch replaces the parameters when it arrives (the worker never waits for it, except for the
    first read); each push names the version of the read its gradients were computed at. At most
    ``max_inflight`` pushes per shard are in flight: when the servers fall behind, the worker waits
    for the oldest instead of queueing ever more (and ever staler) gradients. Delay-tolerant AdaGrad runs
    this loop with ``n_fetch = n_push = 1`` and ``local_lr = 0`` against an AdaRevision server.
    """
    stats = Stats()
    bounds = shards.bounds
    x, versions = read_all(shards, worker, stats)
    accrued = np.zeros_like(x)
    accrued_steps = 0
    fetching: list[Any] | None = None
    pushes: list[Any] = []

    def push() -> None:
        nonlocal accrued, accrued_steps
        parts = _slices(accrued, bounds)
        pushes.extend(shards.call(k, "push", worker, parts[k], versions[k], accrued_steps)
                      for k in range(len(parts)))
        accrued, accrued_steps = np.zeros_like(x), 0
        while len(pushes) > max_inflight * len(parts):
            tick = time.perf_counter()
            stats.staleness.update(shards.get(pushes[:len(parts)]))
            stats.wait_s += time.perf_counter() - tick
            del pushes[:len(parts)]

    for i in range(steps):
        if i > 0 and i % n_fetch == 0 and fetching is None:
            fetching = [shards.call(k, "read", worker) for k in range(len(bounds) - 1)]
        if fetching is not None and shards.ready(fetching):
            results = shards.get(fetching)
            x = np.concatenate([r[0] for r in results])
            versions = [int(r[1]) for r in results]
            fetching = None
        g = _timed_gradient(replica, x, start + i, stats)
        accrued += g
        accrued_steps += 1
        if local_lr:
            x = x - local_lr * g
        if accrued_steps == n_push:
            push()
    if accrued_steps:
        push()
    tick = time.perf_counter()
    stats.staleness.update(shards.get(pushes))
    if fetching is not None:
        shards.get(fetching)
    stats.wait_s += time.perf_counter() - tick
    return stats.as_dict()


class ElasticWorker:
    """One EASGD / EAMSGD worker's local state (x^i, and v^i for EAMSGD) and its steps.

    Each step t of the paper's Algorithms 1 and 2 (Zhang, Choromanska & LeCun 2015):

        x = x^i
        if tau divides t:  x^i <- x^i - alpha (x - x~);  x~ <- x~ + alpha (x - x~)   (the exchange)
        EASGD:   x^i <- x^i - eta g(x)
        EAMSGD:  v^i <- delta v^i - eta g(x + delta v^i);   x^i <- x^i + v^i

    The gradient is taken at x, the value before the elastic step, as in the paper.
    """

    def __init__(self, replica: Replica, x: np.ndarray, *, lr: float, momentum: float = 0.0) -> None:
        self.replica = replica
        self.x = np.array(x, copy=True)
        self.v = np.zeros_like(self.x)
        self.lr, self.momentum = lr, momentum

    def step(self, step: int, stats: Stats, elastic: np.ndarray | None = None) -> None:
        """One local step; ``elastic`` is the d = alpha (x - x~) of an exchange made at this step
        (computed from the x^i this step starts from)."""
        x = self.x
        if elastic is not None:
            self.x = self.x - elastic
        if self.momentum:
            g = _timed_gradient(self.replica, x + self.momentum * self.v, step, stats)
            self.v = self.momentum * self.v - self.lr * g
            self.x = self.x + self.v
        else:
            g = _timed_gradient(self.replica, x, step, stats)
            self.x = self.x - self.lr * g

    def exchange(self, shards: Any, worker: int, method: str, steps: int, stats: Stats) -> np.ndarray:
        """Send x^i to every shard (``method``: "exchange" or "sync_exchange"); returns d."""
        tick = time.perf_counter()
        parts = _slices(self.x, shards.bounds)
        d = np.concatenate(shards.get([shards.call(k, method, worker, parts[k], steps)
                                       for k in range(len(parts))]))
        stats.wait_s += time.perf_counter() - tick
        return d


def easgd_loop(worker_state: ElasticWorker, shards: Any, worker: int, start: int, steps: int, *,
               tau: int) -> dict[str, Any]:
    """Asynchronous EASGD / EAMSGD, steps ``start .. start + steps - 1``: an exchange with the centre
    whenever tau divides the step (the worker waits for the centre's answer), and one last exchange
    after the last step, so that the centre sees every step."""
    stats = Stats()
    since = 0
    for i in range(steps):
        step = start + i
        if step % tau == 0:
            d = worker_state.exchange(shards, worker, "exchange", since, stats)
            since = 0
            worker_state.step(step, stats, elastic=d)
        else:
            worker_state.step(step, stats)
        since += 1
    if since:
        worker_state.x = worker_state.x - worker_state.exchange(shards, worker, "exchange", since, stats)
    return stats.as_dict()


def easgd_sync_round(worker_state: ElasticWorker, shards: Any, worker: int, start: int, steps: int,
                     reported: int) -> dict[str, Any]:
    """One round of synchronous EASGD: an exchange against the round's centre x~_t (reporting the
    ``reported`` local steps made since the last exchange), then local steps ``start .. start +
    steps - 1``. With ``steps == 0`` only the exchange (the last round)."""
    stats = Stats()
    d = worker_state.exchange(shards, worker, "sync_exchange", reported, stats)
    if steps == 0:
        worker_state.x = worker_state.x - d
        return stats.as_dict()
    worker_state.step(start, stats, elastic=d)
    for step in range(start + 1, start + steps):
        worker_state.step(step, stats)
    return stats.as_dict()


def sync_sgd_step(replica: Replica, shards: Any, worker: int, step: int) -> dict[str, Any]:
    """Synchronous SGD, one worker's part of a round: read the parameters, compute the minibatch
    gradient, add it to the round's sum on every shard (the driver then calls ``apply``)."""
    stats = Stats()
    x, versions = read_all(shards, worker, stats)
    g = _timed_gradient(replica, x, step, stats)
    parts = _slices(g, shards.bounds)
    tick = time.perf_counter()
    stats.staleness.update(shards.get([shards.call(k, "add", worker, parts[k], versions[k], 1)
                                       for k in range(len(parts))]))
    stats.wait_s += time.perf_counter() - tick
    return stats.as_dict()


class InnerTrainer:
    """DiLoCo's worker (Douillard et al. 2023): a replica and its inner optimizer, an ``sgdlab.optim``
    optimizer over the replica's parameters (AdamW in the paper). The optimizer's state (AdamW's
    moments, its step count) stays with the worker from round to round, as in the paper; only the
    parameters come from the server at the start of each round.

    Args:
        replica: the worker's model replica and data shard.
        optimizer: a name of ``sgdlab.optim.available()``.
        lr: its learning rate.
        optimizer_options: its other arguments (None: its defaults).
    """

    def __init__(self, replica: Replica, optimizer: str = "adamw", lr: float = 1e-3,
                 optimizer_options: dict[str, Any] | None = None) -> None:
        from .. import optim

        self.replica = replica
        self.optimizer = optim.create(optimizer, replica.params, lr=lr, **dict(optimizer_options or {}))

    def train(self, x: np.ndarray, start: int, steps: int, stats: Stats) -> np.ndarray:
        """theta_i <- x, then ``steps`` inner steps on minibatches ``start .. start + steps - 1``;
        returns theta_i (flat)."""
        self.replica.load(x)
        for step in range(start, start + steps):
            tick = time.perf_counter()
            stats.losses.append(self.replica.backward(step))
            self.optimizer.step()
            stats.compute_s += time.perf_counter() - tick
            stats.steps += 1
        return self.replica.flat()


def diloco_round(trainer: InnerTrainer, shards: Any, worker: int, start: int, steps: int) -> dict[str, Any]:
    """One worker's part of a DiLoCo round (the paper's Algorithm 1, lines 3-9 and its share of 12):

        theta_i <- theta_{t-1}                       (read from the shards)
        H times:  theta_i <- InnerOpt(theta_i, grad L(x ~ D_i, theta_i))
        push delta_i = theta_{t-1} - theta_i         (``add``: the shards average the deltas of the
                                                      round and take one outer step, ``apply``)

    for the ``steps`` = H minibatches ``start .. start + steps - 1`` of this worker's stream."""
    stats = Stats()
    x, versions = read_all(shards, worker, stats)
    delta = x - trainer.train(x, start, steps, stats)
    parts = _slices(delta, shards.bounds)
    tick = time.perf_counter()
    stats.staleness.update(shards.get([shards.call(k, "add", worker, parts[k], versions[k], steps)
                                       for k in range(len(parts))]))
    stats.wait_s += time.perf_counter() - tick
    return stats.as_dict()
