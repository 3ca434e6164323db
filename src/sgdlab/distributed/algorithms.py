"""The algorithms: Downpour SGD, delay-tolerant AdaGrad, EASGD / EAMSGD, DiLoCo (local SGD) and
synchronous SGD on Ray actors, serial SGD, the baseline they are measured against, and :func:`run`,
any of them on a benchmark problem.

Every function takes any ``torch.nn.Module``, its ``loss_fn`` and the training data, and returns a
:class:`~.result.DistributedResult`. The work is the same for all of them: ``epochs`` passes over
the training data in minibatches of ``batch_size``, i.e. ``T = epochs * ceil(n / batch_size)``
minibatch gradients, split over the ``workers`` (each owns a random ``1/workers`` of the examples).
The parameter vector is split into ``shards`` slices, each owned by one server actor.

An algorithm here says which server update the shards run (``server``), which loop the workers run
(``worker``, through ``_actors``) and how many updates that makes; the driver (``driver``) does the
rest: setting up the actors, failures, the curve.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import re
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .._validation import (ArgumentTypeError, Bool, Callable_, Instance, Int,
                           Options, Real, argument_error, check, shown, validate)
from .cluster import Cluster
from ._names import ALGORITHMS, FAILURE_POLICIES
from .driver import (AsyncRun, DiLoCoRun, ElasticSpec, InnerSpec, ServerSpec, Settings, SyncEASGDRun,
                     SyncSGDRun, execute, finish_in_process, record_every, torch_threads)
from .result import DistributedResult
from .server import OptimizerServer
from .worker import Replica


# ---- the arguments they share: their checks and their documentation, written once ----------------

POSITIVE = Real(0, closed="neither")

#: the checks of the arguments of every function that trains in this process or on Ray
TRAINING_CHECKS = {
    "model": Instance(torch.nn.Module, what="a torch.nn.Module"), "loss_fn": Callable_(), "epochs": Int(1),
    "batch_size": Int(1), "seed": Int(0), "metric_fn": (Callable_(), None), "curve_points": Int(2),
    "threads": Int(1),
}
#: ... and of those only the algorithms on Ray take
RAY_CHECKS = {
    **TRAINING_CHECKS, "workers": Int(1), "shards": Int(1), "checkpoint_every": Int(0),
    "checkpoint_dir": (Instance(str, os.PathLike, what="a path"), None),
    "on_worker_failure": Options(*FAILURE_POLICIES), "shard_timeout": POSITIVE,
    "cluster": (Instance(Cluster, what="a sgdlab.distributed.Cluster"), None),
    "address": (Instance(str, what="a Ray address"), None), "connect_timeout": POSITIVE,
}

ARGUMENT_DOCS = {
    "model_args": """\
model: any ``torch.nn.Module``; its parameters that require gradients, flattened, are what is trained.
loss_fn: ``loss_fn(model(X), y)``, the minibatch's mean loss (a scalar tensor).
train: the training data: ``(X, y)`` (tensors, NumPy arrays, a scipy.sparse X) or a map-style Dataset.""",
    "training_args": """\
epochs: passes over the training data (T = epochs * ceil(n / batch_size) minibatch gradients in all).
batch_size: examples per minibatch.
seed: the minibatch order (and, on Ray, which examples each worker owns).
eval_data: ``(X, y)`` or a Dataset the loss curve is computed on (None: the training data).
metric_fn: also record ``metric_fn(model(X), y)`` (e.g. accuracy) on ``eval_data`` (None: no metric).
curve_points: about how many snapshots of the parameters the loss curve has.
threads: torch threads per worker (1: on a busy machine more threads than free cores slow small models
    down several times).""",
    "ray_args": """\
workers: N, the worker actors (model replicas), each owning a random 1/N of the training examples.
shards: K, the parameter-server actors, each owning a slice of the flat parameter vector.
checkpoint_every: every shard writes a checkpoint every this many updates (0: only at the start).
checkpoint_dir: where (None: a temporary directory of the cluster; on a cluster of several machines
    give a directory every machine sees, so that a shard restarted elsewhere finds it).
on_worker_failure: a worker that dies mid-run (its process, or its whole node) is "replace"d by a new
    actor that resumes its minibatch stream where the servers last heard of it, its work is
    "reassign"ed to the first worker that finishes its own (asynchronous algorithms only), or the run
    "raise"s a RuntimeError. A replacement that cannot be started within ``shard_timeout`` (no node
    left with room) is given up: the run goes on with the workers it has.
shard_timeout: seconds a shard may stay unreachable (dead and not yet back) before the run ends with
    a ConnectionError, and that actors may take to start.
cluster: a :class:`~sgdlab.distributed.Cluster` to run on (its actors are reused; None: a cluster is
    opened for this run and closed after it).
address: without ``cluster``, the Ray cluster to join ("auto", "HOST:PORT", "ray://HOST:PORT";
    None: a local Ray instance).
connect_timeout: seconds to wait for ``address`` to answer before a ConnectionError.""",
    "elastic_args": """\
lr: eta, the workers' learning rate.
tau: the communication period: a worker exchanges with the centre every tau of its steps.
beta: the paper's beta = workers * alpha (0.9, as it suggests); ignored when ``alpha`` is given.
alpha: the moving rate, 0 < alpha < 1 (None: beta / workers).
synchronous: synchronous EASGD: all workers meet the same centre every tau steps (eqs. 5-6).""",
    "optimizer_args": """\
optimizer: the servers' optimizer, a name of ``sgdlab.optim.available()``.
lr: its learning rate.
optimizer_options: its other arguments (``sgdlab.optim.create(optimizer, params, lr=lr,
    **optimizer_options)``; None: its defaults).""",
}


def documented(fn: Callable) -> Callable:
    """Fill the shared argument descriptions into ``fn``'s docstring: a line ``{ray_args}`` becomes
    the text of ``ARGUMENT_DOCS["ray_args"]``, indented as the line is."""
    def fill(match: re.Match) -> str:
        return textwrap.indent(ARGUMENT_DOCS[match[2]], match[1])

    fn.__doc__ = re.sub(r"^( *)\{(\w+)\}$", fill, fn.__doc__, flags=re.M)
    return fn


def _optimizer(name: str, lr: float, options: dict[str, Any] | None) -> dict[str, Any]:
    """The servers' optimizer as ``OptimizerServer`` takes it (the name checked against the registry)."""
    from .. import optim

    return {"optimizer": check("optimizer", name, Options(*optim.available())), "lr": lr,
            "optimizer_options": dict(options or {})}


def _reported(server: dict[str, Any]) -> dict[str, Any]:
    """The optimizer's settings as a result reports them: name, lr and its other options, flat."""
    return {"optimizer": server["optimizer"], "lr": server["lr"], **server["optimizer_options"]}


def _synchronous_failure_policy(policy: str) -> None:
    if policy == "reassign":
        raise argument_error("on_worker_failure", policy, "'replace' or 'raise': 'reassign' applies to the "
                             "asynchronous algorithms, and synchronous rounds need every worker")


# ---- the algorithms on Ray ------------------------------------------------------------------------

@validate(**RAY_CHECKS, lr=POSITIVE, optimizer_options=(Instance(dict), None), n_fetch=Int(1), n_push=Int(1),
          local_lr=Real(0))
@documented
def downpour(model: torch.nn.Module, loss_fn: Callable, train: Any, *, optimizer: str = "adagrad",
             lr: float = 0.01, optimizer_options: dict[str, Any] | None = None, n_fetch: int = 1, n_push: int = 1,
             local_lr: float = 0.0, workers: int = 2, shards: int = 1, epochs: int = 1, batch_size: int = 32,
             seed: int = 0, eval_data: Any = None, metric_fn: Callable | None = None, curve_points: int = 50,
             checkpoint_every: int = 100, checkpoint_dir: str | Path | None = None,
             on_worker_failure: str = "replace", shard_timeout: float = 60.0, threads: int = 1,
             cluster: Cluster | None = None, address: str | None = None,
             connect_timeout: float = 30.0) -> DistributedResult:
    """Downpour SGD (Dean et al. 2012, "Large Scale Distributed Deep Networks"): N workers, each
    with a model replica and its shard of the data, fetch the parameters from the K server shards
    every ``n_fetch`` steps and push their accrued gradients every ``n_push`` steps, both
    asynchronously (see ``worker.downpour_loop``); each shard applies every push as it arrives with
    an ``sgdlab.optim`` optimizer (Adagrad by default, as in DistBelief), however stale.

    Args:
        {model_args}
        {optimizer_args}
        n_fetch: the paper's n_fetch: a worker fetches the parameters every n_fetch of its steps.
        n_push: the paper's n_push: it pushes its accrued gradients every n_push steps.
        local_lr: the paper's alpha: the worker's own SGD step between fetches (0: none).
        {ray_args}
        {training_args}

    Example:
        >>> import torch
        >>> from sgdlab.distributed import downpour
        >>> X = torch.randn(512, 5); y = X @ torch.ones(5, 1)
        >>> r = downpour(torch.nn.Linear(5, 1), torch.nn.functional.mse_loss, (X, y), workers=2,
        ...              lr=0.1, epochs=5)  # doctest: +SKIP
        >>> bool(r.final_loss < r.curve.loss[0]), r.updates  # doctest: +SKIP
        (True, 80)
    """
    settings = Settings.of(locals())
    server = _optimizer(optimizer, lr, optimizer_options)

    def launch(run: AsyncRun, handle: Any, w: int, start: int, steps: int) -> Any:
        return handle.downpour.remote(w, start, steps, n_fetch, n_push, local_lr)

    run = AsyncRun("downpour", model, loss_fn, train, settings, ServerSpec("optimizer", server),
                   {**_reported(server), "n_fetch": n_fetch, "n_push": n_push, "local_lr": local_lr},
                   launch=launch, planned=lambda shares: sum(math.ceil(s / n_push) for s in shares))
    return execute(run, cluster, address, connect_timeout)


@validate(**RAY_CHECKS, lr=POSITIVE, initial_accumulator=POSITIVE)
@documented
def delay_tolerant_adagrad(model: torch.nn.Module, loss_fn: Callable, train: Any, *, lr: float = 0.01,
                           initial_accumulator: float = 1e-8, workers: int = 2, shards: int = 1,
                           epochs: int = 1, batch_size: int = 32, seed: int = 0, eval_data: Any = None,
                           metric_fn: Callable | None = None, curve_points: int = 50, checkpoint_every: int = 100,
                           checkpoint_dir: str | Path | None = None, on_worker_failure: str = "replace",
                           shard_timeout: float = 60.0, threads: int = 1, cluster: Cluster | None = None,
                           address: str | None = None, connect_timeout: float = 30.0) -> DistributedResult:
    """Delay-tolerant AdaGrad: AdaptiveRevision (McMahan & Streeter 2014) on the server shards.

    The workers run Downpour's loop with ``n_fetch = n_push = 1`` (each gradient pushed with the
    version of the read it was computed at); each shard keeps the per-coordinate gradient sum ``z``
    and every worker's snapshot of it at its read, and revises the step for the backlog of gradients
    applied since (``server.AdaRevisionServer`` has the equations). Without delays it is AdaGrad
    with ``eps = initial_accumulator``.

    Args:
        {model_args}
        lr: alpha.
        initial_accumulator: z' at the start (> 0).
        {ray_args}
        {training_args}
    """
    settings = Settings.of(locals())
    server = {"lr": lr, "initial_accumulator": initial_accumulator}

    def launch(run: AsyncRun, handle: Any, w: int, start: int, steps: int) -> Any:
        return handle.downpour.remote(w, start, steps, 1, 1, 0.0)

    run = AsyncRun("dtadagrad", model, loss_fn, train, settings, ServerSpec("adarevision", server), dict(server),
                   launch=launch, planned=sum)
    return execute(run, cluster, address, connect_timeout)


@validate(**RAY_CHECKS, lr=POSITIVE, tau=Int(1), beta=POSITIVE, alpha=(Real(0, 1, closed="neither"), None),
          momentum=Real(0, 1, closed="left"), synchronous=Bool())
@documented
def easgd(model: torch.nn.Module, loss_fn: Callable, train: Any, *, lr: float = 0.01, tau: int = 4,
          beta: float = 0.9, alpha: float | None = None, momentum: float = 0.0, synchronous: bool = False,
          workers: int = 2, shards: int = 1, epochs: int = 1, batch_size: int = 32, seed: int = 0,
          eval_data: Any = None, metric_fn: Callable | None = None, curve_points: int = 50,
          checkpoint_every: int = 100, checkpoint_dir: str | Path | None = None, on_worker_failure: str = "replace",
          shard_timeout: float = 60.0, threads: int = 1, cluster: Cluster | None = None,
          address: str | None = None, connect_timeout: float = 30.0) -> DistributedResult:
    """Elastic Averaging SGD (Zhang, Choromanska & LeCun 2015, "Deep learning with Elastic Averaging
    SGD"): each worker runs its own SGD (EAMSGD: Nesterov momentum) and every ``tau`` steps moves
    towards the centre variable held by the server shards while the centre moves towards it, with
    moving rate ``alpha = beta / workers`` (``server.ElasticServer`` and ``worker.ElasticWorker``
    have the equations). Asynchronous by default (the paper's Algorithms 1 and 2); with
    ``synchronous=True`` all workers meet the same centre every tau steps (eqs. 5-6). The result's
    parameters and curve are the centre's.

    Args:
        {model_args}
        {elastic_args}
        momentum: delta, EAMSGD's Nesterov momentum, in [0, 1) (0: EASGD).
        {ray_args}
        {training_args}
    """
    settings = Settings.of(locals())
    if alpha is None:
        alpha = check("beta", beta, Real(0, workers, closed="neither")) / workers
    name = "eamsgd" if momentum else "easgd"
    options = {"lr": lr, "tau": tau, "alpha": alpha, "momentum": momentum, "synchronous": synchronous}
    server = ServerSpec("elastic", {"alpha": alpha})
    if synchronous:
        _synchronous_failure_policy(on_worker_failure)
        run: Any = SyncEASGDRun(name, model, loss_fn, train, settings, server, options,
                                elastic=ElasticSpec(lr=lr, momentum=momentum, tau=tau))
        return execute(run, cluster, address, connect_timeout)

    def launch(run: AsyncRun, handle: Any, w: int, start: int, steps: int) -> Any:
        handle.elastic_start.remote(w, lr, momentum)
        return handle.easgd.remote(w, start, steps, tau)

    run = AsyncRun(name, model, loss_fn, train, settings, server, options, launch=launch,
                   planned=lambda shares: sum(math.ceil(s / tau) + 1 for s in shares))
    return execute(run, cluster, address, connect_timeout)


@validate(momentum=Real(0, 1, closed="neither"))
@documented
def eamsgd(model: torch.nn.Module, loss_fn: Callable, train: Any, *, lr: float = 0.01, tau: int = 4,
           beta: float = 0.9, alpha: float | None = None, momentum: float = 0.99, synchronous: bool = False,
           workers: int = 2, shards: int = 1, epochs: int = 1, batch_size: int = 32, seed: int = 0,
           eval_data: Any = None, metric_fn: Callable | None = None, curve_points: int = 50,
           checkpoint_every: int = 100, checkpoint_dir: str | Path | None = None, on_worker_failure: str = "replace",
           shard_timeout: float = 60.0, threads: int = 1, cluster: Cluster | None = None,
           address: str | None = None, connect_timeout: float = 30.0) -> DistributedResult:
    """EAMSGD: :func:`easgd` with the workers' Nesterov momentum delta (0.99 by default, as in the paper).

    Args:
        {model_args}
        {elastic_args}
        momentum: delta, in (0, 1) (0 would be EASGD).
        {ray_args}
        {training_args}
    """
    return easgd(**locals())  # the same arguments


@validate(**RAY_CHECKS, inner_steps=Int(1), lr=POSITIVE, optimizer_options=(Instance(dict), None),
          outer_lr=POSITIVE, outer_momentum=Real(0, 1, closed="left"))
@documented
def diloco(model: torch.nn.Module, loss_fn: Callable, train: Any, *, inner_steps: int = 16,
           optimizer: str = "adamw", lr: float = 1e-3, optimizer_options: dict[str, Any] | None = None,
           outer_optimizer: str = "nag", outer_lr: float = 0.7, outer_momentum: float = 0.9, workers: int = 2,
           shards: int = 1, epochs: int = 1, batch_size: int = 32, seed: int = 0, eval_data: Any = None,
           metric_fn: Callable | None = None, curve_points: int = 50, checkpoint_every: int = 100,
           checkpoint_dir: str | Path | None = None, on_worker_failure: str = "replace", shard_timeout: float = 60.0,
           threads: int = 1, cluster: Cluster | None = None, address: str | None = None,
           connect_timeout: float = 30.0) -> DistributedResult:
    """DiLoCo (Douillard et al. 2023, "DiLoCo: Distributed Low-Communication Training of Language
    Models"), local SGD with an outer optimizer. The paper's Algorithm 1, for rounds t = 1, 2, ...:

        each worker i:  theta_i <- theta_{t-1};  H inner steps  theta_i <- InnerOpt(theta_i, grad L(x ~ D_i))
        the server:     Delta_t = 1/N sum_i (theta_{t-1} - theta_i)     (the outer gradient)
                        theta_t = OuterOpt(theta_{t-1}, Delta_t)

    The inner optimizer is an ``sgdlab.optim`` optimizer on each worker (AdamW, as in the paper),
    whose state stays with the worker from round to round; the outer one is the servers' (Nesterov
    momentum with lr 0.7 and momentum 0.9, the paper's): one step per round with the mean of the
    pushed deltas, on every shard (``server.OptimizerServer``: synchronous SGD's ``add`` and
    ``apply``, with theta_{t-1} - theta_i in place of a gradient). ``outer_optimizer="sgd",
    outer_lr=1, outer_momentum=0`` is periodic model averaging (FedAvg): theta_t = mean_i theta_i.
    A worker communicates twice per round (reads theta_{t-1}, pushes its delta) instead of twice per
    step: H times less than synchronous SGD.

    Args:
        {model_args}
        inner_steps: H, the inner steps per round (the paper's 500 is for runs of 88,000 steps; the
            small problems here take a few hundred in all).
        optimizer: the workers' inner optimizer, a name of ``sgdlab.optim.available()``.
        lr: its learning rate.
        optimizer_options: its other arguments (None: its defaults).
        outer_optimizer: the servers' outer optimizer, a name of ``sgdlab.optim.available()`` ("nag":
            Nesterov momentum, one gradient per step, the trajectory of torch's
            ``SGD(nesterov=True)``).
        outer_lr: its learning rate (the paper's 0.7).
        outer_momentum: its momentum, in [0, 1) (the paper's 0.9), for an outer optimizer that takes
            one; 0 for one that takes none ("sgd", "adam", ...).
        {ray_args}
        {training_args}
    """
    settings = Settings.of(locals())
    _synchronous_failure_policy(on_worker_failure)
    _optimizer(optimizer, lr, optimizer_options)  # the inner optimizer's name, checked here
    server = _outer_optimizer(outer_optimizer, outer_lr, outer_momentum)
    options = {"inner_steps": inner_steps, "optimizer": optimizer, "lr": lr, **(optimizer_options or {}),
               "outer_optimizer": server["optimizer"], "outer_lr": outer_lr, "outer_momentum": outer_momentum}
    run = DiLoCoRun("diloco", model, loss_fn, train, settings, ServerSpec("optimizer", server), options,
                    inner=InnerSpec(optimizer=optimizer, lr=lr, options=dict(optimizer_options or {}),
                                    steps=inner_steps))
    return execute(run, cluster, address, connect_timeout)


def _outer_optimizer(name: str, lr: float, momentum: float) -> dict[str, Any]:
    """DiLoCo's outer optimizer as ``OptimizerServer`` takes it: ``momentum`` goes to an optimizer
    that takes one, and must be 0 for one that does not."""
    from .. import optim

    spec = _optimizer(check("outer_optimizer", name, Options(*optim.available())), lr, None)
    if "momentum" in inspect.signature(optim.get(spec["optimizer"])).parameters:
        spec["optimizer_options"] = {"momentum": momentum}
    elif momentum:
        raise argument_error("outer_momentum", momentum, f"0: the outer optimizer {spec['optimizer']!r} takes no "
                             "momentum")
    return spec


@validate(**RAY_CHECKS, lr=POSITIVE, optimizer_options=(Instance(dict), None))
@documented
def sync_sgd(model: torch.nn.Module, loss_fn: Callable, train: Any, *, optimizer: str = "sgd", lr: float = 0.01,
             optimizer_options: dict[str, Any] | None = None, workers: int = 2, shards: int = 1, epochs: int = 1,
             batch_size: int = 32, seed: int = 0, eval_data: Any = None, metric_fn: Callable | None = None,
             curve_points: int = 50, checkpoint_every: int = 100, checkpoint_dir: str | Path | None = None,
             on_worker_failure: str = "replace", shard_timeout: float = 60.0, threads: int = 1,
             cluster: Cluster | None = None, address: str | None = None,
             connect_timeout: float = 30.0) -> DistributedResult:
    """Synchronous SGD, the baseline: every step each worker reads the parameters and computes the
    gradient of its next minibatch; the shards average the N gradients and take one optimizer step
    (an effective minibatch of N x batch_size, ``T / N`` updates for the same T gradients).

    Args:
        {model_args}
        {optimizer_args}
        {ray_args}
        {training_args}
    """
    settings = Settings.of(locals())
    _synchronous_failure_policy(on_worker_failure)
    server = _optimizer(optimizer, lr, optimizer_options)
    run = SyncSGDRun("sync", model, loss_fn, train, settings, ServerSpec("optimizer", server), _reported(server))
    return execute(run, cluster, address, connect_timeout)


# ---- in this process --------------------------------------------------------------------------------

@validate(**TRAINING_CHECKS, lr=POSITIVE, optimizer_options=(Instance(dict), None))
@documented
def serial_sgd(model: torch.nn.Module, loss_fn: Callable, train: Any, *, optimizer: str = "sgd",
               lr: float = 0.01, optimizer_options: dict[str, Any] | None = None, epochs: int = 1,
               batch_size: int = 32, seed: int = 0, eval_data: Any = None, metric_fn: Callable | None = None,
               curve_points: int = 50, threads: int = 1) -> DistributedResult:
    """Serial SGD in this process, the yardstick: the same T minibatch gradients, one after the
    other, each applied at once by the same optimizer the servers use (no Ray, no staleness).

    Args:
        {model_args}
        {optimizer_args}
        {training_args}

    Example:
        >>> import torch
        >>> from sgdlab.distributed import serial_sgd
        >>> X = torch.randn(256, 3, generator=torch.Generator().manual_seed(0)); y = X.sum(1, keepdim=True)
        >>> r = serial_sgd(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, (X, y), lr=0.1, epochs=3)
        >>> r.steps, r.updates, r.staleness, bool(r.final_loss < 0.01)
        (24, 24, {0: 24}, True)
    """
    spec = _optimizer(optimizer, lr, optimizer_options)
    replica = Replica(copy.deepcopy(model), loss_fn, train, batch_size=batch_size, seed=seed)
    server = OptimizerServer(torch.from_numpy(replica.flat()), **spec)
    total = epochs * replica.batches_per_epoch
    every = record_every(total, curve_points)
    with torch_threads(threads):
        t0 = time.time()
        snaps = [(0, t0, 0, server.x.numpy().copy())]
        compute = 0.0
        for step in range(total):
            tick = time.perf_counter()
            _, g = replica.gradient(server.x.numpy(), step)
            compute += time.perf_counter() - tick
            server.push(0, g, server.version, 1)
            if server.version % every == 0 or step == total - 1:
                snaps.append((server.version, time.time(), server.steps, server.x.numpy().copy()))
        t1 = time.time()
    result_model, curve, params = finish_in_process(replica, server, loss_fn, eval_data if eval_data
                                                    is not None else train, metric_fn, snaps, t0)
    staleness = {int(k): int(v) for k, v in server.staleness.items()}
    return DistributedResult(
        algorithm="serial", workers=1, shards=1, params=params, model=result_model, curve=curve,
        updates=server.version, steps=server.steps, wall_time=t1 - t0, staleness=staleness,
        staleness_by_shard=[dict(staleness)], worker_stats=[{"steps": total, "compute_s": compute, "wait_s": 0.0, "nodes": []}],
        options={**_reported(spec), "epochs": epochs, "batch_size": batch_size, "seed": seed})


# ---- any of them on a benchmark problem --------------------------------------------------------------

FUNCTIONS: dict[str, Callable[..., DistributedResult]] = {
    "downpour": downpour, "dtadagrad": delay_tolerant_adagrad, "easgd": easgd, "eamsgd": eamsgd,
    "diloco": diloco, "sync": sync_sgd, "serial": serial_sgd,
}


@validate(algorithm=Options(*ALGORITHMS), seed=Int(0), epochs=(Int(1), None), batch_size=(Int(1), None))
def run(algorithm: str, problem: Any, *, seed: int = 0, epochs: int | None = None, batch_size: int | None = None,
        lr: float | None = None, optimizer: str | None = None, optimizer_options: dict[str, Any] | None = None,
        n_fetch: int | None = None, n_push: int | None = None, local_lr: float | None = None,
        initial_accumulator: float | None = None, tau: int | None = None, beta: float | None = None,
        alpha: float | None = None, momentum: float | None = None, synchronous: bool | None = None,
        inner_steps: int | None = None, outer_optimizer: str | None = None, outer_lr: float | None = None,
        outer_momentum: float | None = None, workers: int | None = None, shards: int | None = None, curve_points: int | None = None,
        checkpoint_every: int | None = None, checkpoint_dir: str | Path | None = None,
        on_worker_failure: str | None = None, shard_timeout: float | None = None, threads: int | None = None,
        cluster: Cluster | None = None, address: str | None = None,
        connect_timeout: float | None = None) -> DistributedResult:
    """Run ``algorithm`` on a benchmark problem: what ``sgdlab distributed ALGO --problem NAME`` does.

    The model is the problem's, built from ``seed``; the curve is on its validation split, with its
    metric. Every other argument is that of the algorithm's function (:func:`downpour`, ...), None
    for its default; one the algorithm does not take (``tau`` for downpour) is refused
    (``TAKEN_BY`` says which algorithms take which).

    Args:
        algorithm: one of "downpour" (:func:`downpour`), "dtadagrad" (:func:`delay_tolerant_adagrad`),
            "easgd", "eamsgd", "diloco", "sync" (:func:`sync_sgd`) or "serial" (:func:`serial_sgd`).
        problem: a name of ``sgdlab.problems`` (e.g. "digits_mlp"), a ``Problem`` or a built ``Task``.
        seed: the model's initialisation, and the algorithm's ``seed``.
        epochs, batch_size: None: the problem's quick budget (a Task has none: 1 epoch of 32).
        lr, optimizer, optimizer_options: the optimizer (lr: all algorithms; the servers' optimizer:
            downpour, sync, serial; the workers' inner optimizer: diloco).
        n_fetch, n_push, local_lr: Downpour's.
        initial_accumulator: delay-tolerant AdaGrad's.
        tau, beta, alpha, momentum, synchronous: EASGD's and EAMSGD's.
        inner_steps, outer_optimizer, outer_lr, outer_momentum: DiLoCo's.
        workers, shards: N and K (the algorithms on Ray, not serial; so are the five below).
        checkpoint_every, checkpoint_dir: the shards' checkpoints.
        on_worker_failure, shard_timeout: what is done when a worker dies, or a shard does not answer.
        cluster, address, connect_timeout: where to run.
        curve_points, threads: the curve's points and the torch threads per worker (all algorithms).

    Example:
        >>> from sgdlab.distributed import run
        >>> r = run("serial", "digits_logreg", epochs=1, lr=0.1)
        >>> r.algorithm, r.steps, r.curve.metric is not None
        ('serial', 19, True)
        >>> run("downpour", "digits_logreg", tau=4)
        Traceback (most recent call last):
            ...
        sgdlab._validation.ArgumentValueError: Invalid tau: 4 (expected no tau: it applies to easgd, eamsgd,
        not downpour)
    """
    arguments = locals()
    options = {name: arguments[name] for name in TAKEN_BY if arguments[name] is not None}
    for name, value in options.items():
        if algorithm not in TAKEN_BY[name]:
            raise argument_error(name, value, f"no {name}: it applies to {', '.join(TAKEN_BY[name])}, not {algorithm}")
    task, budget = _task(problem, seed)
    epochs = epochs if epochs is not None else budget.epochs if budget else 1
    if batch_size is None:
        batch_size = budget.batch_size if budget and budget.batch_size else 32
    return FUNCTIONS[algorithm](task.model, task.loss_fn, task.train, epochs=epochs, batch_size=batch_size,
                                seed=seed, eval_data=task.val, metric_fn=task.metric_fn, **options)


#: which algorithms take each of :func:`run`'s options (read off their signatures: one place)
TAKEN_BY: dict[str, tuple[str, ...]] = {
    name: tuple(key for key, fn in FUNCTIONS.items() if name in inspect.signature(fn).parameters)
    for name in inspect.signature(run).parameters
    if name not in ("algorithm", "problem", "seed", "epochs", "batch_size")  # run's own, or taken by all
}


def _task(problem: Any, seed: int) -> tuple[Any, Any]:
    """(task, quick budget or None) of a problem name, Problem or Task."""
    if isinstance(problem, str):
        from .. import problems

        problem = problems.get(problem)  # an ArgumentError naming the problems there are
    if hasattr(problem, "build") and hasattr(problem, "quick"):
        return problem.build(seed), problem.quick
    if all(hasattr(problem, a) for a in ("model", "loss_fn", "train")):
        return problem, None
    raise ArgumentTypeError(f"Invalid problem: {shown(problem)} of type {type(problem).__name__} (expected a problem "
                            "name, a Problem or a Task)")
