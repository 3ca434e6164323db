"""The algorithms past this machine, simulated deterministically in one process (no Ray).

:func:`simulate_workers` runs Downpour SGD, delay-tolerant AdaGrad, asynchronous EASGD and DiLoCo with N
simulated workers, N = 1 to thousands, in communication rounds, and records the loss against the
rounds and against the bytes sent. The model of the cluster:

* **Workers are equally fast and take turns.** In a round every worker communicates once, in the
  order 0, 1, ..., N-1, each seeing the server as the workers before it left it. For the
  asynchronous algorithms this is the steady state of N workers of equal speed: a gradient pushed
  to Downpour's server was computed at the parameters the worker read right after its previous
  push, N - 1 updates ago (staleness N - 1; in the first round 0, 1, ..., N - 1); an EASGD worker
  meets a centre that the N - 1 others have moved since its last exchange. DiLoCo is synchronous:
  every worker starts a round from the same parameters.
* **Data are i.i.d.** Each worker draws each minibatch at random, with replacement, from the whole
  training set (worker i's minibatch at step s: row i of ``default_rng([seed, 11, s]).integers(0, n,
  (N, batch_size))``), not from a shard of its own: with 1,024 workers and 1,197 digits a shard
  would hold one example.
* **Bytes are the parameters.** sgdlab sends dense float32 arrays, so each message is D x 4 bytes
  for a model of D parameters: Downpour and delay-tolerant AdaGrad send a gradient (n_push = 1)
  and read the parameters back (n_fetch = 1), an EASGD worker sends x^i and receives alpha
  (x^i - x~), a DiLoCo worker reads theta and pushes its delta: two messages per worker and round
  in every algorithm, plus each worker's first read. Headers and Ray's framing are not counted.
  What differs is the work a round buys: 1 gradient per worker for Downpour, tau for EASGD, H for
  DiLoCo.
* **Time is not modelled**: no compute or network speeds, no stragglers, no failures.

The updates are made by the same classes the Ray shards run (``server.OptimizerServer``,
``AdaRevisionServer``, ``ElasticServer``), one push or exchange at a time; what is vectorised is the
workers' side: the N replicas are one (N, D) tensor, their N minibatch gradients one call of
``torch.func.vmap`` over ``torch.func.grad`` of the model (``functional_call``), and DiLoCo's N inner
optimizers one ``sgdlab.optim`` optimizer over that tensor (the optimizers are elementwise, so
each row keeps its own state). 1,024 workers on digits_mlp take seconds per algorithm.

:func:`simulate_delays`, the other simulation here, makes every gradient exactly d updates stale
(as with d + 1 workers taking turns) to show what AdaGrad's and delay-tolerant AdaGrad's server
rules do with delay, and nothing else: at tick t the parameters are read and the gradient of
minibatch t is computed at them, and that gradient reaches the server at tick t + d.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from .._validation import Instance, Int, Options, Real, argument_error, check, validate
from ..train._data import Data
from ..train.loop import evaluate
from .algorithms import FUNCTIONS, POSITIVE, TRAINING_CHECKS, _outer_optimizer, _task, documented
from .driver import finish_in_process, load_flat, record_every, torch_threads
from .result import Curve, DistributedResult
from .server import AdaRevisionServer, ElasticServer, OptimizerServer
from .worker import Replica

SERVERS = ("adagrad", "dtadagrad")


@validate(**TRAINING_CHECKS, server=Options(*SERVERS), delay=Int(0), lr=POSITIVE, eps=POSITIVE)
@documented
def simulate_delays(model: torch.nn.Module, loss_fn: Callable, train: Any, *, server: str = "dtadagrad",
                    delay: int = 0, lr: float = 0.01, eps: float = 1e-8, epochs: int = 1,
                    batch_size: int = 32, seed: int = 0, eval_data: Any = None,
                    metric_fn: Callable | None = None, curve_points: int = 50, threads: int = 1) -> DistributedResult:
    """Train with every gradient applied exactly ``delay`` updates after the read it was computed at.

    Args:
        {model_args}
        server: "adagrad" (``sgdlab.optim.Adagrad(lr, eps=eps)``, what Downpour's server does) or
            "dtadagrad" (AdaptiveRevision with ``initial_accumulator=eps``; without delay the two
            are the same algorithm).
        delay: d >= 0, in updates.
        lr: alpha.
        eps: the accumulator's start.
        {training_args}

    Returns:
        A :class:`DistributedResult` (algorithm "adagrad" or "dtadagrad", ``workers = delay + 1``)
        whose staleness is ``{0: 1, 1: 1, ..., d - 1: 1, d: T - d}``.

    Example:
        >>> import torch
        >>> from sgdlab.distributed import simulate_delays
        >>> X = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)); y = X.sum(1, keepdim=True)
        >>> r = simulate_delays(torch.nn.Linear(2, 1), torch.nn.functional.mse_loss, (X, y), delay=3,
        ...                     lr=0.1, batch_size=8)
        >>> r.staleness
        {0: 1, 1: 1, 2: 1, 3: 5}
    """
    replica = Replica(copy.deepcopy(model), loss_fn, train, batch_size=batch_size, seed=seed)
    x0 = torch.from_numpy(replica.flat())
    if server == "adagrad":
        srv: Any = OptimizerServer(x0, "adagrad", lr=lr, optimizer_options={"eps": eps})
    else:
        srv = AdaRevisionServer(x0, lr=lr, initial_accumulator=eps)
    total = epochs * replica.batches_per_epoch
    every = record_every(total, curve_points)
    in_flight: deque[tuple[int, int, np.ndarray]] = deque()  # (worker, read version, gradient)
    with torch_threads(threads):
        t0 = time.time()
        snaps = [(0, t0, 0, srv.x.numpy().copy())]
        for tick in range(total + delay):
            if tick < total:
                worker = tick % (delay + 1)
                x, version = srv.read(worker)
                _, g = replica.gradient(x, tick)
                in_flight.append((worker, version, g))
            if tick >= delay:
                worker, version, g = in_flight.popleft()
                srv.push(worker, g, version, 1)
                if srv.version % every == 0 or srv.version == total:
                    snaps.append((srv.version, time.time(), srv.steps, srv.x.numpy().copy()))
        t1 = time.time()
    result_model, curve, params = finish_in_process(replica, srv, loss_fn, eval_data if eval_data
                                                    is not None else train, metric_fn, snaps, t0)
    staleness = {int(k): int(v) for k, v in sorted(srv.staleness.items())}
    return DistributedResult(
        algorithm=server, workers=delay + 1, shards=1, params=params, model=result_model, curve=curve,
        updates=srv.version, steps=srv.steps, wall_time=t1 - t0, staleness=staleness,
        staleness_by_shard=[staleness], options={"delay": delay, "lr": lr, "eps": eps, "epochs": epochs,
                                                 "batch_size": batch_size, "seed": seed})


# ---- N workers, simulated ------------------------------------------------------------------------

#: the algorithms :func:`simulate_workers` runs
SIMULATED = ("downpour", "dtadagrad", "easgd", "diloco")
#: the algorithms' own options :func:`simulate_workers` takes (their defaults: those of the functions on Ray)
OPTIONS = ("optimizer", "lr", "optimizer_options", "initial_accumulator", "tau", "beta", "alpha", "inner_steps",
           "outer_optimizer", "outer_lr", "outer_momentum")
#: which simulated algorithms take each option (read off the functions' signatures)
TAKEN_BY = {name: tuple(a for a in SIMULATED if name in inspect.signature(FUNCTIONS[a]).parameters)
            for name in OPTIONS}


class Replicas:
    """N replicas of a model as one (N, D) tensor of flat parameters, and their minibatch gradients
    in one call (``torch.func.vmap`` of ``torch.func.grad`` of the model's loss at flat parameters).

    Args:
        model: a ``torch.nn.Module`` without buffers (batch norm's running statistics cannot be
            kept per simulated worker); its parameters that require gradients are the D.
        loss_fn: ``loss_fn(model(X), y)``, the minibatch's mean loss.
        train: the training data, as ``sgdlab.train.fit`` takes it.
        workers: N.
        batch_size: each worker's minibatch size.
        seed: the minibatches' seed.

    Example:
        >>> import torch
        >>> from sgdlab.distributed.simulate import Replicas
        >>> X = torch.randn(32, 3); y = X.sum(1, keepdim=True)
        >>> r = Replicas(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, (X, y), workers=5, batch_size=4)
        >>> r.gradients(r.x0.repeat(5, 1), step=0).shape   # N workers x D parameters
        torch.Size([5, 4])
    """

    def __init__(self, model: torch.nn.Module, loss_fn: Callable, train: Any, *, workers: int, batch_size: int,
                 seed: int = 0) -> None:
        from torch.func import functional_call, grad, vmap

        if any(True for _ in model.buffers()):
            raise argument_error("model", type(model).__name__, "a model without buffers: batch norm's running "
                                 "statistics cannot be kept per simulated worker")
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise argument_error("model", type(model).__name__, "a module with parameters that require gradients")
        self.model, self.data = model, train if isinstance(train, Data) else Data(train, "train")
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.x0 = torch.cat([p.detach().reshape(-1) for _, p in named]).clone()
        self.N, self.batch_size, self.seed = workers, batch_size, seed

        def loss(flat: torch.Tensor, xb: Any, yb: Any) -> torch.Tensor:
            params = {n: t.view(s) for n, t, s in zip(self.names, torch.split(flat, self.sizes), self.shapes)}
            return loss_fn(functional_call(model, params, (xb,)), yb)

        self._gradients = vmap(grad(loss))

    @property
    def size(self) -> int:
        """D, the parameters of one replica."""
        return len(self.x0)

    def batch_indices(self, step: int) -> np.ndarray:
        """The rows of each worker's minibatch at ``step``, shape (N, batch_size)."""
        rng = np.random.default_rng([self.seed, 11, step])
        return rng.integers(0, len(self.data), (self.N, self.batch_size))

    def gradients(self, X: torch.Tensor, step: int) -> torch.Tensor:
        """Row i: the gradient of worker i's minibatch at ``step`` at parameters ``X[i]``."""
        xb, yb = self.data.batch(self.batch_indices(step).ravel())
        shape = (self.N, self.batch_size)
        return self._gradients(X.detach(), xb.reshape(*shape, *xb.shape[1:]), yb.reshape(*shape, *yb.shape[1:]))


#: one round's report of a simulated algorithm: (the server's parameters, messages so far)
Round = tuple[torch.Tensor, int]


def _downpour(replicas: Replicas, server: Any, rounds: int) -> Iterator[Round]:
    """Downpour SGD / delay-tolerant AdaGrad: each round every worker, in turn, pushes the gradient
    it computed at its last read and reads the parameters again (n_fetch = n_push = 1)."""
    N = replicas.N
    X = replicas.x0.repeat(N, 1)
    versions = [server.read(i)[1] for i in range(N)]
    for r in range(rounds):
        G = replicas.gradients(X, r)
        for i in range(N):
            server.push(i, G[i], versions[i], 1)
            x, versions[i] = server.read(i)
            X[i] = torch.from_numpy(x)
        yield server.x, N + 2 * N * (r + 1)


def _easgd(replicas: Replicas, centre: ElasticServer, rounds: int, lr: float, tau: int) -> Iterator[Round]:
    """Asynchronous EASGD, the paper's Algorithm 1 with every worker exchanging at t = 0, tau, 2 tau,
    ... in turn: each round the N exchanges (one per worker, in order, each with the centre as the
    workers before left it) and then tau local SGD steps, the first at the point before the elastic
    step; the last round is only the exchange, so that the centre sees every step."""
    N = replicas.N
    X = torch.stack([torch.from_numpy(centre.read(i)[0]) for i in range(N)])
    for r in range(rounds):
        before = X.clone()
        for i in range(N):
            X[i] -= torch.from_numpy(centre.exchange(i, X[i], tau if r else 0))
        if r < rounds - 1:
            for h in range(tau):
                X -= lr * replicas.gradients(before if h == 0 else X, r * tau + h)
        yield centre.x, N + 2 * N * (r + 1)


def _diloco(replicas: Replicas, server: OptimizerServer, rounds: int, inner_steps: int, optimizer: str, lr: float,
            options: dict[str, Any]) -> Iterator[Round]:
    """DiLoCo: each round every worker starts from theta, takes H steps of its inner optimizer (the N
    rows of one ``sgdlab.optim`` optimizer over the (N, D) replicas: elementwise, so each keeps its
    own state) and pushes theta - theta_i; the server averages them and takes the outer step."""
    from .. import optim

    N = replicas.N
    P = torch.nn.Parameter(replicas.x0.repeat(N, 1))
    inner = optim.create(optimizer, [P], lr=lr, **options)
    for r in range(rounds):
        x, version = server.read(0)  # every worker reads the same theta_{t-1}
        theta = torch.from_numpy(x)
        with torch.no_grad():
            P.copy_(theta.expand_as(P))
        for h in range(inner_steps):
            P.grad = replicas.gradients(P, r * inner_steps + h)
            inner.step()
        P.grad = None
        for i in range(N):
            server.add(i, theta - P[i].detach(), version, inner_steps)
        server.apply()
        yield server.x, 2 * N * (r + 1)


@validate(algorithm=Options(*SIMULATED), workers=Int(1), rounds=Int(1), batch_size=Int(1), seed=Int(0),
          eval_every=Int(1), threads=Int(1), lr=(POSITIVE, None), optimizer=(Instance(str), None),
          optimizer_options=(Instance(dict), None), initial_accumulator=(POSITIVE, None), tau=(Int(1), None),
          beta=(POSITIVE, None), alpha=(Real(0, 1, closed="neither"), None), inner_steps=(Int(1), None),
          outer_optimizer=(Instance(str), None), outer_lr=(POSITIVE, None),
          outer_momentum=(Real(0, 1, closed="left"), None))
def simulate_workers(algorithm: str, problem: Any, *, workers: int = 16, rounds: int = 50, batch_size: int = 16,
             seed: int = 0, eval_every: int = 1, threads: int = 1, lr: float | None = None,
             optimizer: str | None = None, optimizer_options: dict[str, Any] | None = None,
             initial_accumulator: float | None = None, tau: int | None = None, beta: float | None = None,
             alpha: float | None = None, inner_steps: int | None = None, outer_optimizer: str | None = None,
             outer_lr: float | None = None, outer_momentum: float | None = None) -> DistributedResult:
    """Run ``algorithm`` with ``workers`` simulated workers for ``rounds`` communication rounds, in
    this process, deterministically (the module's docstring has the model and its assumptions).

    Args:
        algorithm: "downpour", "dtadagrad", "easgd" (asynchronous) or "diloco".
        problem: a name of ``sgdlab.problems``, a ``Problem`` or a built ``Task`` (its model built
            from ``seed``; the curve is on its validation split, with its metric).
        workers: N, the simulated workers.
        rounds: R, the communication rounds: each worker sends R messages to the server and
            receives R back (EASGD: R exchanges, the first at step 0, with tau local steps between
            two; Downpour: R gradients; DiLoCo: R x H inner steps).
        batch_size: each worker's minibatch.
        seed: the model's initialisation and the minibatches.
        eval_every: evaluate the server's parameters every this many rounds (and after the last).
        threads: torch threads (1: on a busy machine more threads than free cores slow it down).
        lr, optimizer, optimizer_options, initial_accumulator: the algorithm's own (Downpour's server
            optimizer, DiLoCo's inner one; delay-tolerant AdaGrad's), as :func:`downpour`,
            :func:`delay_tolerant_adagrad` and :func:`diloco` take them, with their defaults (None).
        tau, beta, alpha, inner_steps, outer_optimizer, outer_lr, outer_momentum: EASGD's (as
            :func:`easgd`) and DiLoCo's (as :func:`diloco`). An option the algorithm does not take
            is refused (``TAKEN_BY`` says which take which).

    Returns:
        A :class:`DistributedResult` whose curve has ``rounds`` and ``bytes`` (sent so far, both ways);
        ``staleness`` is the server's count, ``worker_stats`` is empty.

    Example:
        >>> from sgdlab.distributed import simulate_workers
        >>> r = simulate_workers("downpour", "digits_logreg", workers=64, rounds=3, lr=0.1)
        >>> r.curve.rounds.tolist(), r.updates, max(r.staleness)       # 64 pushes a round, 63 stale
        ([0, 1, 2, 3], 192, 63)
        >>> int(r.curve.bytes[-1]) == (64 + 2 * 64 * 3) * 650 * 4     # messages x D x 4 bytes
        True
    """
    arguments = locals()
    given = {name: arguments[name] for name in OPTIONS if arguments[name] is not None}
    for name, value in given.items():
        if algorithm not in TAKEN_BY[name]:
            raise argument_error(name, value, f"no {name}: it applies to {', '.join(TAKEN_BY[name])}, not {algorithm}")
    defaults = inspect.signature(FUNCTIONS[algorithm]).parameters
    o = {name: given.get(name, defaults[name].default) for name in OPTIONS if name in defaults}
    task, _ = _task(problem, seed)
    replicas = Replicas(task.model, task.loss_fn, task.train, workers=workers, batch_size=batch_size, seed=seed)
    x0 = replicas.x0.clone()
    if algorithm == "downpour":
        server: Any = OptimizerServer(x0, o["optimizer"], lr=o["lr"], optimizer_options=o["optimizer_options"])
        steps = _downpour(replicas, server, rounds)
    elif algorithm == "dtadagrad":
        server = AdaRevisionServer(x0, lr=o["lr"], initial_accumulator=o["initial_accumulator"])
        steps = _downpour(replicas, server, rounds)
    elif algorithm == "easgd":
        alpha = o["alpha"] if o["alpha"] is not None else \
            check("beta", o["beta"], Real(0, workers, closed="neither")) / workers
        server = ElasticServer(x0, alpha=alpha)
        steps = _easgd(replicas, server, rounds, o["lr"], o["tau"])
    else:
        server = OptimizerServer(x0, **_outer_optimizer(o["outer_optimizer"], o["outer_lr"], o["outer_momentum"]))
        steps = _diloco(replicas, server, rounds, o["inner_steps"], o["optimizer"], o["lr"],
                        dict(o["optimizer_options"] or {}))
    eval_model = copy.deepcopy(task.model)
    val = Data(task.val, "val")
    itemsize = x0.element_size() * replicas.size
    points: list[tuple[int, float, int, int, int, float, float | None]] = []

    def record(r: int, x: torch.Tensor, messages: int) -> None:
        load_flat(eval_model, x.numpy())
        loss, metric = evaluate(eval_model, task.loss_fn, val, task.metric_fn)
        points.append((r, time.time() - t0, server.version, server.steps, messages * itemsize, loss, metric))

    with torch_threads(threads):
        t0 = time.time()
        record(0, x0, 0)
        for r, (x, messages) in enumerate(steps, start=1):
            if r % eval_every == 0 or r == rounds:
                record(r, x, messages)
        wall = time.time() - t0
    columns = list(zip(*points))
    curve = Curve(time=np.array(columns[1]), updates=np.array(columns[2]), steps=np.array(columns[3]),
                  loss=np.array(columns[5]), metric=np.array(columns[6], dtype=float) if task.metric_fn else None,
                  rounds=np.array(columns[0]), bytes=np.array(columns[4], dtype=np.int64))
    params = server.x.numpy().copy()
    load_flat(eval_model, params)
    staleness = {int(k): int(v) for k, v in sorted(server.staleness.items())}
    return DistributedResult(
        algorithm=algorithm, workers=workers, shards=1, params=params, model=eval_model, curve=curve,
        updates=server.version, steps=server.steps, wall_time=wall, staleness=staleness,
        staleness_by_shard=[staleness], options={**o, "rounds": rounds, "batch_size": batch_size, "seed": seed,
                                                 "simulated": True})
