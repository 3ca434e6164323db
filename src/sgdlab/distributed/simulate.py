"""Asynchrony with a fixed delay, simulated deterministically in one process (no Ray).

Large delays (the hundreds or thousands of updates of McMahan & Streeter's experiments) need
hundreds of workers; here they are made exactly instead: at tick t the parameters are read and the
gradient of minibatch t is computed at them, and that gradient reaches the server at tick t + d,
after the d gradients read before it. Every update (after the first d) is then exactly d updates
stale, as with d + 1 workers taking turns. The same server classes the Ray shards run apply the
updates, so the simulation shows what the server rule does with delay, and nothing else.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._validation import Int, Options, validate
from .algorithms import POSITIVE, TRAINING_CHECKS, documented
from .driver import finish_in_process, record_every, torch_threads
from .result import DistributedResult
from .server import AdaRevisionServer, OptimizerServer
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
