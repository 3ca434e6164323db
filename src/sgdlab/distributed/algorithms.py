"""The algorithms: Downpour SGD, delay-tolerant AdaGrad, EASGD / EAMSGD and synchronous SGD on Ray
actors, and serial SGD, the baseline they are measured against.

Every function takes any ``torch.nn.Module``, its ``loss_fn`` and the training data, and returns a
:class:`~.result.DistributedResult`. The work is the same for all of them: ``epochs`` passes over
the training data in minibatches of ``batch_size``, i.e. ``T = epochs * ceil(n / batch_size)``
minibatch gradients, split over the ``workers`` (each owns a random ``1/workers`` of the examples).
The parameter vector is split into ``shards`` slices, each owned by one server actor.

Common arguments (keyword-only):
    workers: N worker actors (model replicas).
    shards: K server shards.
    epochs, batch_size, seed: the work and the minibatch order (and the data split).
    eval_data: ``(X, y)`` the loss curve is computed on (default: the training data).
    metric_fn: also record ``metric_fn(model(X), y)`` (e.g. accuracy) on ``eval_data``.
    curve_points: about how many snapshots of the server's parameters the curve has.
    checkpoint_every: every shard writes a checkpoint every this many updates (0: only at the start).
    checkpoint_dir: where (default: a temporary directory of the cluster; on a cluster of several
        machines give a directory every machine sees, so that a shard restarted elsewhere finds it).
    on_worker_failure: a worker that dies mid-run is "replace"d by a new actor that resumes its
        minibatch stream where the servers last heard of it (default), its work is "reassign"ed to
        the first worker that finishes its own (asynchronous algorithms only), or the run "raise"s.
    shard_timeout: seconds a shard may stay unreachable (dead and not yet back) before the run
        ends with a ConnectionError.
    threads: torch threads per worker.
    cluster: a :class:`~.cluster.Cluster` to run on (its actors are reused); without it a cluster
        is opened for this run (``address``, ``connect_timeout``: see :class:`~.cluster.Cluster`).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import torch

from .._checks import check_float, check_int
from ..train._data import Data
from ..train.loop import evaluate
from .cluster import Cluster, require_ray
from .result import Curve, DistributedResult
from .server import OptimizerServer, shard_bounds
from .worker import Replica

ALGORITHMS = ("downpour", "dtadagrad", "easgd", "eamsgd", "sync", "serial")
FAILURE_POLICIES = ("replace", "reassign", "raise")
_POLL_S = 0.25


# ---- arguments ----------------------------------------------------------------------------------

def _check_common(workers, shards, epochs, batch_size, curve_points, checkpoint_every, on_worker_failure,
                  shard_timeout, threads) -> None:
    check_int("workers", workers, 1)
    check_int("shards", shards, 1)
    check_int("epochs", epochs, 1)
    check_int("batch_size", batch_size, 1)
    check_int("curve_points", curve_points, 2)
    check_int("checkpoint_every", checkpoint_every, 0)
    check_int("threads", threads, 1)
    check_float("shard_timeout", shard_timeout, lambda v: v > 0, "> 0")
    if on_worker_failure not in FAILURE_POLICIES:
        raise ValueError(f"on_worker_failure={on_worker_failure!r} must be one of {', '.join(FAILURE_POLICIES)}")


def _positive(name: str, value: Any) -> float:
    return check_float(name, value, lambda v: v > 0, "> 0")


def _subset(data: Data, idx: np.ndarray) -> Any:
    """The examples ``idx`` of ``data``, in the form it was given."""
    if data.dataset is not None:
        return torch.utils.data.Subset(data.dataset, idx.tolist())

    def take(a: Any) -> Any:
        if isinstance(a, torch.Tensor):
            return a[torch.from_numpy(idx)]
        if scipy.sparse.issparse(a):
            return a[idx]
        return a[idx]

    return take(data.X), take(data.y)


def _parts(total: int, n: int) -> list[int]:
    return [len(p) for p in np.array_split(np.arange(total), n)]


def _plan_record_every(planned_updates: int, curve_points: int) -> int:
    return max(1, planned_updates // curve_points)


# ---- the driver ---------------------------------------------------------------------------------

class _Run:
    """One run on a cluster: set up the shards and workers, drive the algorithm, watch for failures,
    collect the result."""

    def __init__(self, algorithm: str, model: torch.nn.Module, loss_fn: Callable, train: Any, *,
                 workers: int, shards: int, epochs: int, batch_size: int, seed: int, eval_data: Any,
                 metric_fn: Callable | None, curve_points: int, checkpoint_every: int,
                 checkpoint_dir: str | Path | None, on_worker_failure: str, shard_timeout: float,
                 threads: int, server_kind: str, server_options: dict[str, Any],
                 options: dict[str, Any]) -> None:
        _check_common(workers, shards, epochs, batch_size, curve_points, checkpoint_every,
                      on_worker_failure, shard_timeout, threads)
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.algorithm, self.model, self.loss_fn = algorithm, model, loss_fn
        self.data = train if isinstance(train, Data) else Data(train, "train")
        if workers > len(self.data):
            raise ValueError(f"workers={workers} is more than the {len(self.data)} training examples")
        probe = Replica(copy.deepcopy(model), loss_fn, self.data, batch_size=batch_size, seed=seed)
        self.x0 = probe.flat()
        self.dtype = probe.dtype
        self.bounds = shard_bounds(len(self.x0), shards)
        self.N, self.K = workers, shards
        self.batch_size, self.seed, self.threads = batch_size, seed, threads
        self.total_steps = epochs * probe.batches_per_epoch
        self.eval_data = eval_data if eval_data is not None else train
        self.metric_fn, self.curve_points = metric_fn, curve_points
        self.checkpoint_every, self.checkpoint_dir = checkpoint_every, checkpoint_dir
        self.on_worker_failure, self.shard_timeout = on_worker_failure, shard_timeout
        self.server_kind, self.server_options = server_kind, server_options
        self.options = {"epochs": epochs, "batch_size": batch_size, "seed": seed, **options}
        order = np.random.default_rng([seed, 7]).permutation(len(self.data))
        self.examples = [np.sort(part) for part in np.array_split(order, workers)]
        self.events: list[str] = []
        self.failures = 0
        self.stats: list[dict[str, Any]] = [{"steps": 0, "compute_s": 0.0, "wait_s": 0.0} for _ in range(workers)]

    # ---- plumbing --------------------------------------------------------------------------------
    def _event(self, message: str) -> None:
        self.events.append(f"{time.time() - self.t0:.2f} s: {message}" if hasattr(self, "t0") else message)

    def _shard_spec(self) -> dict[str, Any]:
        return {"handles": [s.handle for s in self.slots], "names": [s.name for s in self.slots],
                "namespace": self.cluster.namespace, "bounds": self.bounds, "timeout": self.shard_timeout}

    def _setup_worker(self, handle: Any, w: int) -> Any:
        return handle.setup.remote(self.model_ref, self.loss_fn, self.data_refs[w], batch_size=self.batch_size,
                                   seed=self.seed, stream=w, shards=self._shard_spec(), threads=self.threads)

    def _ask(self, k: int, method: str, *args: Any) -> Any:
        """Call shard k from the driver, creating it anew if it died for good."""
        ray = self.ray
        deadline = time.monotonic() + self.shard_timeout
        while True:
            try:
                return ray.get(getattr(self.slots[k].handle, method).remote(*args),
                               timeout=max(0.1, deadline - time.monotonic()))
            except ray.exceptions.RayActorError:
                if time.monotonic() > deadline:
                    raise ConnectionError(f"server shard {k} did not come back within "
                                          f"{self.shard_timeout:g} s") from None
                self._revive(k)
            except ray.exceptions.GetTimeoutError:
                raise ConnectionError(f"server shard {k} did not answer {method} within "
                                      f"{self.shard_timeout:g} s (is the cluster still up?)") from None

    def _ask_all(self, method: str, *args: Any) -> list[Any]:
        ray = self.ray
        refs = [getattr(s.handle, method).remote(*args) for s in self.slots]
        out = []
        for k, ref in enumerate(refs):
            try:
                out.append(ray.get(ref, timeout=self.shard_timeout))
            except ray.exceptions.RayActorError:
                self._revive(k)
                out.append(self._ask(k, method, *args))
            except ray.exceptions.GetTimeoutError:
                raise ConnectionError(f"server shard {k} did not answer {method} within "
                                      f"{self.shard_timeout:g} s (is the cluster still up?)") from None
        return out

    def _revive(self, k: int) -> None:
        self.cluster.revive(self.slots[k])
        self._pings[k] = None
        self._event(f"server shard {k} died; started again from its checkpoint")

    def _watch_shards(self) -> None:
        """Ping every shard now and then; create a dead one anew; give up on one silent too long."""
        ray, now = self.ray, time.monotonic()
        for k, slot in enumerate(self.slots):
            ping = self._pings[k]
            if ping is None:
                if now - self._last_ok[k] >= 0.5:
                    self._pings[k] = (slot.handle.ping.remote(), now)
                continue
            ref, sent = ping
            done, _ = ray.wait([ref], timeout=0)
            if done:
                try:
                    ray.get(ref)
                    self._last_ok[k] = now
                    self._pings[k] = None
                except ray.exceptions.RayActorError:
                    self._revive(k)
            elif now - sent > self.shard_timeout:
                raise ConnectionError(f"server shard {k} has not answered for {now - sent:.0f} s "
                                      "(is the cluster still up?)")

    def _wait(self, refs: list[Any]) -> list[Any]:
        """ray.wait for any of ``refs``, watching the shards meanwhile."""
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=_POLL_S)
        self._watch_shards()
        return ready

    def _worker_died(self, w: int, err: Exception) -> None:
        self.failures += 1
        if self.on_worker_failure == "raise":
            raise RuntimeError(f"worker {w} died mid-run ({type(err).__name__}) and "
                               "on_worker_failure='raise'") from err

    def _add_stats(self, w: int, stats: dict[str, Any]) -> None:
        for key in ("steps", "compute_s", "wait_s"):
            self.stats[w][key] += stats[key]

    # ---- the run ---------------------------------------------------------------------------------
    def execute(self, cluster: Cluster) -> DistributedResult:
        self.ray = ray = require_ray()
        self.cluster = cluster
        self.handles, self.slots = cluster.take(self.N, self.K)
        try:
            run_dir = Path(self.checkpoint_dir) if self.checkpoint_dir is not None else \
                cluster.dir / f"run-{uuid.uuid4().hex[:8]}"
            planned = self._planned_updates()
            record_every = _plan_record_every(planned, self.curve_points)
            setups = []
            for k, slot in enumerate(self.slots):
                config = {"kind": self.server_kind, "options": self.server_options, "index": k,
                          "params": torch.from_numpy(self.x0[self.bounds[k]:self.bounds[k + 1]].copy()),
                          "record_every": record_every, "checkpoint_every": self.checkpoint_every,
                          "checkpoint_dir": str(run_dir)}
                setups.append(slot.handle.setup.remote(config))
            self.model_ref = ray.put(self.model)
            self.data_refs = [ray.put(_subset(self.data, idx)) for idx in self.examples]
            self._start(setups)
            self._pings: list[Any] = [None] * self.K
            self._last_ok = [time.monotonic()] * self.K
            self.t0 = time.time()
            self._drive()
            self.t1 = time.time()
            result = self._collect()
        except BaseException:
            cluster.discard(self.handles, self.slots)
            raise
        cluster.give_back(self.handles, self.slots)
        return result

    def _start(self, shard_setups: list[Any]) -> None:
        """Wait for the shards and workers to be set up; a worker that dies meanwhile is replaced
        (unless ``on_worker_failure="raise"``); nothing placed within ``shard_timeout``: TimeoutError."""
        ray, cluster = self.ray, self.cluster
        deadline = time.monotonic() + self.shard_timeout
        pending = {ref: None for ref in shard_setups}
        pending.update({self._setup_worker(h, w): w for w, h in enumerate(self.handles)})
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=len(pending),
                                timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"the {self.N} workers and {self.K} shards did not start within "
                                   f"{self.shard_timeout:g} s (resources free: {ray.available_resources()}; "
                                   f"each worker asks for {cluster.worker_cpus:g} CPUs, each shard for "
                                   f"{cluster.shard_cpus:g})")
            for ref in ready:
                w = pending.pop(ref)
                try:
                    ray.get(ref)
                except ray.exceptions.RayActorError as err:
                    if w is None:  # a shard: nothing to restore yet
                        raise
                    self._worker_died(w, err)
                    handle = cluster.new_worker()
                    self.handles[w] = handle
                    pending[self._setup_worker(handle, w)] = w
                    self._event(f"worker {w} died while starting ({type(err).__name__}); a new worker "
                                "takes its place")

    def _planned_updates(self) -> int:
        raise NotImplementedError

    def _drive(self) -> None:
        raise NotImplementedError

    def _collect(self) -> DistributedResult:
        ray = self.ray
        summaries = self._ask_all("finish")
        snapshots = self._ask_all("snapshots")
        params = np.concatenate(self._ask_all("params"))
        model = copy.deepcopy(self.model)
        if any(True for _ in model.buffers()):
            try:
                buffers = ray.get(self.handles[0].buffers.remote(), timeout=self.shard_timeout)
                model.load_state_dict(buffers, strict=False)
            except ray.exceptions.RayError:
                self._event("worker 0's buffers could not be fetched; the model keeps its initial ones")
        curve = _curve(model, self.loss_fn, self.eval_data, self.metric_fn, snapshots, self.t0)
        _load_flat(model, params)
        restarts = sum(s["restarts"] for s in summaries)
        if restarts:
            self.events.append(f"server shards restored from their checkpoints {restarts} time(s) in all "
                               "(restarted by Ray or created again by the driver)")
        staleness = [{int(d): int(c) for d, c in sorted(s["staleness"].items())} for s in summaries]
        return DistributedResult(
            algorithm=self.algorithm, workers=self.N, shards=self.K, params=params, model=model, curve=curve,
            updates=int(summaries[0]["version"]), steps=int(summaries[0]["steps"]),
            wall_time=self.t1 - self.t0, staleness=staleness[0], staleness_by_shard=staleness,
            worker_stats=self.stats, events=self.events, worker_failures=self.failures,
            shard_restarts=restarts, options=self.options)


@contextlib.contextmanager
def torch_threads(n: int):
    """torch.set_num_threads(n) for the block, then the previous number again."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _load_flat(model: torch.nn.Module, x: np.ndarray) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(torch.as_tensor(x).to(params[0].dtype), params)


def _finish_in_process(replica: Any, server: Any, loss_fn: Any, eval_data: Any, metric_fn: Any,
                       snaps: list, t0: float) -> tuple[torch.nn.Module, Any, np.ndarray]:
    """The model, loss curve and final parameters of a run whose server lived in this process
    (serial SGD, the delay simulation): a copy of the replica's model holding the final parameters."""
    model = copy.deepcopy(replica.model)
    curve = _curve(model, loss_fn, eval_data, metric_fn, [snaps], t0)
    params = server.x.numpy().copy()
    _load_flat(model, params)
    return model, curve, params


def _curve(model: torch.nn.Module, loss_fn: Callable, eval_data: Any, metric_fn: Callable | None,
           snapshots: list[list[tuple[int, float, int, np.ndarray]]], t0: float) -> Curve:
    """The loss at each version every shard has a snapshot of (its slices concatenated)."""
    by_shard = [{s[0]: s for s in snaps} for snaps in snapshots]
    versions = sorted(set.intersection(*(set(d) for d in by_shard)))
    eval_model = copy.deepcopy(model)
    data = eval_data if isinstance(eval_data, Data) else Data(eval_data, "eval_data")
    times, steps, losses, metrics = [], [], [], []
    for v in versions:
        parts = [d[v] for d in by_shard]
        _load_flat(eval_model, np.concatenate([p[3] for p in parts]))
        loss, metric = evaluate(eval_model, loss_fn, data, metric_fn)
        times.append(max(0.0, max(p[1] for p in parts) - t0))
        steps.append(max(p[2] for p in parts))
        losses.append(loss)
        metrics.append(metric)
    return Curve(time=np.array(times), updates=np.array(versions), steps=np.array(steps),
                 loss=np.array(losses), metric=np.array(metrics, dtype=float) if metric_fn else None)


class _AsyncRun(_Run):
    """Downpour SGD, delay-tolerant AdaGrad and asynchronous EASGD: each worker runs its whole
    share in one call; a worker that dies is replaced, or its share reassigned."""

    def __init__(self, *args: Any, launch: Callable[[_AsyncRun, Any, int, int, int], Any],
                 planned: Callable[[list[int]], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.launch, self.planned_fn = launch, planned
        self.shares = _parts(self.total_steps, self.N)

    def _planned_updates(self) -> int:
        return self.planned_fn(self.shares)

    def _drive(self) -> None:
        ray = self.ray
        running = {self.launch(self, h, w, 0, self.shares[w]): (w, h) for w, h in enumerate(self.handles)}
        queue: deque[tuple[int, int, int]] = deque()
        idle: list[Any] = []
        while running or queue:
            for ref in self._wait(list(running)) if running else []:
                w, handle = running.pop(ref)
                try:
                    self._add_stats(w, ray.get(ref))
                    idle.append(handle)
                except ray.exceptions.RayActorError as err:
                    self._worker_died(w, err)
                    done = min(self._ask(0, "progress", w), self.shares[w])
                    self.handles.remove(handle)
                    if done < self.shares[w]:
                        queue.append((w, done, self.shares[w] - done))
                    self._event(f"worker {w} died ({type(err).__name__}) after {done} of its "
                                f"{self.shares[w]} minibatches; "
                                + ("a new worker takes over the rest" if self.on_worker_failure == "replace"
                                   else "the first worker to finish takes over the rest"))
            while queue:
                if self.on_worker_failure == "replace" or (not idle and not running):
                    handle = self.cluster.new_worker()
                    self.handles.append(handle)
                elif idle:
                    handle = idle.pop()
                else:
                    break
                w, start, steps = queue.popleft()
                self._setup_worker(handle, w)  # the actor runs its calls in order: setup, then the loop
                running[self.launch(self, handle, w, start, steps)] = (w, handle)


class _SyncRun(_Run):
    """Synchronous SGD and synchronous EASGD: rounds driven from here, a barrier after each."""

    def _round(self, calls: dict[int, Callable[[Any], Any]], on_replace: Callable[[Any, int], None]) -> None:
        """Run one call per worker; a worker that dies is replaced (it joins the next round)."""
        ray = self.ray
        running = {call(self.handles[w]): w for w, call in calls.items()}
        while running:
            for ref in self._wait(list(running)):
                w = running.pop(ref)
                try:
                    self._add_stats(w, ray.get(ref))
                except ray.exceptions.RayActorError as err:
                    self._worker_died(w, err)
                    handle = self.cluster.new_worker()
                    self.handles[w] = handle
                    self._setup_worker(handle, w)
                    on_replace(handle, w)
                    self._event(f"worker {w} died ({type(err).__name__}) in round {self.round}; a new "
                                "worker takes its place from the next round")


class _SyncSGDRun(_SyncRun):
    def _planned_updates(self) -> int:
        return math.ceil(self.total_steps / self.N)

    def _drive(self) -> None:
        for self.round in range(self._planned_updates()):
            r = self.round
            self._round({w: (lambda h, w=w, r=r: h.sync_sgd.remote(w, r)) for w in range(self.N)},
                        on_replace=lambda h, w: None)
            self._ask_all("apply")


class _SyncEASGDRun(_SyncRun):
    def __init__(self, *args: Any, lr: float, momentum: float, tau: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lr, self.momentum, self.tau = lr, momentum, tau
        self.share = math.ceil(self.total_steps / self.N)

    def _planned_updates(self) -> int:
        return math.ceil(self.share / self.tau) + 1

    def _drive(self) -> None:
        self.ray.get([h.elastic_start.remote(w, self.lr, self.momentum) for w, h in enumerate(self.handles)])
        reported = [0] * self.N  # local steps each worker has made since its last exchange
        rounds = math.ceil(self.share / self.tau)
        for self.round in range(rounds + 1):  # the last round: only the exchange
            start = self.round * self.tau
            steps = min(self.tau, self.share - start) if self.round < rounds else 0
            replaced: set[int] = set()

            def restart(handle: Any, w: int) -> None:  # a new worker starts from the centre
                handle.elastic_start.remote(w, self.lr, self.momentum)
                replaced.add(w)

            self._round({w: (lambda h, w=w: h.easgd_round.remote(w, start, steps, reported[w]))
                         for w in range(self.N)}, on_replace=restart)
            reported = [0 if w in replaced else steps for w in range(self.N)]
            self._ask_all("end_round")


# ---- the public functions -----------------------------------------------------------------------

def _common(kwargs: dict[str, Any]) -> dict[str, Any]:
    defaults = {"epochs": 1, "batch_size": 32, "seed": 0, "eval_data": None, "metric_fn": None,
                "curve_points": 50, "checkpoint_every": 100, "checkpoint_dir": None,
                "on_worker_failure": "replace", "shard_timeout": 60.0, "threads": 1}
    unknown = set(kwargs) - set(defaults) - {"cluster", "address", "connect_timeout"}
    if unknown:
        raise TypeError(f"unexpected argument(s): {', '.join(sorted(unknown))}")
    return {k: kwargs.get(k, v) for k, v in defaults.items()}


def _execute(run: _Run, kwargs: dict[str, Any]) -> DistributedResult:
    cluster = kwargs.get("cluster")
    if cluster is not None:
        if not isinstance(cluster, Cluster):
            raise TypeError(f"cluster must be a sgdlab.distributed.Cluster, got {type(cluster).__name__}")
        return run.execute(cluster)
    with Cluster(kwargs.get("address"), connect_timeout=kwargs.get("connect_timeout", 30.0)) as cluster:
        return run.execute(cluster)


def _optimizer_options(name: str, lr: float, options: dict[str, Any] | None) -> dict[str, Any]:
    from .. import optim

    optim.get(name)  # the error names the optimizer and the choices
    return {"optimizer": name, "lr": _positive("lr", lr), **(options or {})}


def downpour(model: torch.nn.Module, loss_fn: Callable, train: Any, *, workers: int = 2, shards: int = 1,
             optimizer: str = "adagrad", lr: float = 0.01, optimizer_options: dict[str, Any] | None = None,
             n_fetch: int = 1, n_push: int = 1, local_lr: float = 0.0, **kwargs: Any) -> DistributedResult:
    """Downpour SGD (Dean et al. 2012, "Large Scale Distributed Deep Networks"): N workers, each
    with a model replica and its shard of the data, fetch the parameters from the K server shards
    every ``n_fetch`` steps and push their accrued gradients every ``n_push`` steps, both
    asynchronously (see ``worker.downpour_loop``); each shard applies every push as it arrives with
    an ``sgdlab.optim`` optimizer (Adagrad by default, as in DistBelief), however stale.

    Args:
        optimizer, lr, optimizer_options: the servers' optimizer (``sgdlab.optim.create(optimizer,
            params, lr=lr, **optimizer_options)``).
        n_fetch, n_push: the paper's n_fetch and n_push.
        local_lr: the paper's alpha: the worker's own SGD step between fetches (0: none).
        **kwargs: the common arguments (module docstring).

    Example:
        >>> import torch
        >>> from sgdlab.distributed import downpour
        >>> X = torch.randn(512, 5); y = X @ torch.ones(5, 1)
        >>> r = downpour(torch.nn.Linear(5, 1), torch.nn.functional.mse_loss, (X, y), workers=2,
        ...              lr=0.1, epochs=5)  # doctest: +SKIP
        >>> bool(r.final_loss < r.curve.loss[0]), r.updates  # doctest: +SKIP
        (True, 80)
    """
    common = _common(kwargs)
    server = _optimizer_options(optimizer, lr, optimizer_options)
    n_fetch, n_push = check_int("n_fetch", n_fetch, 1), check_int("n_push", n_push, 1)
    local_lr = check_float("local_lr", local_lr, lambda v: v >= 0, ">= 0")
    options = {**server, "n_fetch": n_fetch, "n_push": n_push, "local_lr": local_lr}
    opt_name = server.pop("optimizer")

    def launch(run: _AsyncRun, handle: Any, w: int, start: int, steps: int) -> Any:
        return handle.downpour.remote(w, start, steps, n_fetch, n_push, local_lr)

    run = _AsyncRun("downpour", model, loss_fn, train, workers=workers, shards=shards, **common,
                    server_kind="optimizer", server_options={"optimizer": opt_name, **server},
                    options=options, launch=launch,
                    planned=lambda shares: sum(math.ceil(s / n_push) for s in shares))
    return _execute(run, kwargs)


def delay_tolerant_adagrad(model: torch.nn.Module, loss_fn: Callable, train: Any, *, workers: int = 2,
                           shards: int = 1, lr: float = 0.01, initial_accumulator: float = 1e-8,
                           **kwargs: Any) -> DistributedResult:
    """Delay-tolerant AdaGrad: AdaptiveRevision (McMahan & Streeter 2014) on the server shards.

    The workers run Downpour's loop with ``n_fetch = n_push = 1`` (each gradient pushed with the
    version of the read it was computed at); each shard keeps the per-coordinate gradient sum ``z``
    and every worker's snapshot of it at its read, and revises the step for the backlog of gradients
    applied since (``server.AdaRevisionServer`` has the equations). Without delays it is AdaGrad
    with ``eps = initial_accumulator``.

    Args:
        lr: alpha.
        initial_accumulator: z' at the start (> 0).
        **kwargs: the common arguments (module docstring).
    """
    common = _common(kwargs)
    server = {"lr": _positive("lr", lr), "initial_accumulator": _positive("initial_accumulator",
                                                                           initial_accumulator)}

    def launch(run: _AsyncRun, handle: Any, w: int, start: int, steps: int) -> Any:
        return handle.downpour.remote(w, start, steps, 1, 1, 0.0)

    run = _AsyncRun("dtadagrad", model, loss_fn, train, workers=workers, shards=shards, **common,
                    server_kind="adarevision", server_options=server, options=dict(server),
                    launch=launch, planned=sum)
    return _execute(run, kwargs)


def easgd(model: torch.nn.Module, loss_fn: Callable, train: Any, *, workers: int = 2, shards: int = 1,
          lr: float = 0.01, tau: int = 4, beta: float = 0.9, alpha: float | None = None,
          momentum: float = 0.0, synchronous: bool = False, **kwargs: Any) -> DistributedResult:
    """Elastic Averaging SGD (Zhang, Choromanska & LeCun 2015, "Deep learning with Elastic Averaging
    SGD"): each worker runs its own SGD (EAMSGD: Nesterov momentum) and every ``tau`` steps moves
    towards the centre variable held by the server shards while the centre moves towards it, with
    moving rate ``alpha = beta / workers`` (``server.ElasticServer`` and ``worker.ElasticWorker``
    have the equations). Asynchronous by default (the paper's Algorithms 1 and 2); with
    ``synchronous=True`` all workers meet the same centre every tau steps (eqs. 5-6). The result's
    parameters and curve are the centre's.

    Args:
        lr: eta, the workers' learning rate.
        tau: the communication period.
        beta: the paper's beta = p alpha (0.9 as it suggests); ignored when ``alpha`` is given.
        alpha: the moving rate (0 < alpha < 1).
        momentum: delta, EAMSGD's Nesterov momentum (0: EASGD).
        synchronous: synchronous EASGD.
        **kwargs: the common arguments (module docstring).
    """
    common = _common(kwargs)
    lr = _positive("lr", lr)
    tau = check_int("tau", tau, 1)
    momentum = check_float("momentum", momentum, lambda v: 0 <= v < 1, "in [0, 1)")
    if alpha is None:
        workers = check_int("workers", workers, 1)
        beta = check_float("beta", beta, lambda v: 0 < v < workers, f"in (0, workers={workers})")
        alpha = beta / workers
    alpha = check_float("alpha", alpha, lambda v: 0 < v < 1, "in (0, 1)")
    if not isinstance(synchronous, bool):
        raise TypeError(f"synchronous must be a bool, got {synchronous!r}")
    name = "eamsgd" if momentum else "easgd"
    options = {"lr": lr, "tau": tau, "alpha": alpha, "momentum": momentum, "synchronous": synchronous}
    if synchronous:
        if common["on_worker_failure"] == "reassign":
            raise ValueError("on_worker_failure='reassign' applies to the asynchronous algorithms; "
                             "synchronous rounds need every worker (use 'replace' or 'raise')")
        run: _Run = _SyncEASGDRun(name, model, loss_fn, train, workers=workers, shards=shards, **common,
                                  server_kind="elastic", server_options={"alpha": alpha}, options=options,
                                  lr=lr, momentum=momentum, tau=tau)
        return _execute(run, kwargs)

    def launch(run: _AsyncRun, handle: Any, w: int, start: int, steps: int) -> Any:
        handle.elastic_start.remote(w, lr, momentum)
        return handle.easgd.remote(w, start, steps, tau)

    run = _AsyncRun(name, model, loss_fn, train, workers=workers, shards=shards, **common,
                    server_kind="elastic", server_options={"alpha": alpha}, options=options, launch=launch,
                    planned=lambda shares: sum(math.ceil(s / tau) + 1 for s in shares))
    return _execute(run, kwargs)


def eamsgd(model: torch.nn.Module, loss_fn: Callable, train: Any, *, momentum: float = 0.99,
           **kwargs: Any) -> DistributedResult:
    """EAMSGD: :func:`easgd` with the workers' Nesterov momentum delta (0.99, as in the paper)."""
    if not momentum:
        raise ValueError(f"momentum={momentum!r} must be > 0 for EAMSGD (0 is plain EASGD)")
    return easgd(model, loss_fn, train, momentum=momentum, **kwargs)


def sync_sgd(model: torch.nn.Module, loss_fn: Callable, train: Any, *, workers: int = 2, shards: int = 1,
             optimizer: str = "sgd", lr: float = 0.01, optimizer_options: dict[str, Any] | None = None,
             **kwargs: Any) -> DistributedResult:
    """Synchronous SGD, the baseline: every step each worker reads the parameters and computes the
    gradient of its next minibatch; the shards average the N gradients and take one optimizer step
    (an effective minibatch of N x batch_size, ``T / N`` updates for the same T gradients).

    Args:
        optimizer, lr, optimizer_options: the servers' optimizer (plain SGD by default).
        **kwargs: the common arguments (module docstring).
    """
    common = _common(kwargs)
    if common["on_worker_failure"] == "reassign":
        raise ValueError("on_worker_failure='reassign' applies to the asynchronous algorithms; "
                         "synchronous rounds need every worker (use 'replace' or 'raise')")
    server = _optimizer_options(optimizer, lr, optimizer_options)
    options = dict(server)
    opt_name = server.pop("optimizer")
    run = _SyncSGDRun("sync", model, loss_fn, train, workers=workers, shards=shards, **common,
                      server_kind="optimizer", server_options={"optimizer": opt_name, **server},
                      options=options)
    return _execute(run, kwargs)


def serial_sgd(model: torch.nn.Module, loss_fn: Callable, train: Any, *, optimizer: str = "sgd",
               lr: float = 0.01, optimizer_options: dict[str, Any] | None = None, epochs: int = 1,
               batch_size: int = 32, seed: int = 0, eval_data: Any = None, metric_fn: Callable | None = None,
               curve_points: int = 50, threads: int = 1) -> DistributedResult:
    """Serial SGD in this process, the yardstick: the same T minibatch gradients, one after the
    other, each applied at once by the same optimizer the servers use (no Ray, no staleness).

    Example:
        >>> import torch
        >>> from sgdlab.distributed import serial_sgd
        >>> X = torch.randn(256, 3, generator=torch.Generator().manual_seed(0)); y = X.sum(1, keepdim=True)
        >>> r = serial_sgd(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, (X, y), lr=0.1, epochs=3)
        >>> r.steps, r.updates, r.staleness, bool(r.final_loss < 0.01)
        (24, 24, {0: 24}, True)
    """
    _check_common(1, 1, epochs, batch_size, curve_points, 0, "raise", 1.0, threads)
    server_opts = _optimizer_options(optimizer, lr, optimizer_options)
    name = server_opts.pop("optimizer")
    replica = Replica(copy.deepcopy(model), loss_fn, train, batch_size=batch_size, seed=seed)
    server = OptimizerServer(torch.from_numpy(replica.flat()), name, **server_opts)
    total = epochs * replica.batches_per_epoch
    record_every = _plan_record_every(total, curve_points)
    with torch_threads(threads):
        t0 = time.time()
        snaps = [(0, t0, 0, server.x.numpy().copy())]
        compute = 0.0
        for step in range(total):
            tick = time.perf_counter()
            _, g = replica.gradient(server.x.numpy(), step)
            compute += time.perf_counter() - tick
            server.push(0, g, server.version, 1)
            if server.version % record_every == 0 or step == total - 1:
                snaps.append((server.version, time.time(), server.steps, server.x.numpy().copy()))
        t1 = time.time()
    result_model, curve, params = _finish_in_process(replica, server, loss_fn, eval_data if eval_data
                                                     is not None else train, metric_fn, snaps, t0)
    return DistributedResult(
        algorithm="serial", workers=1, shards=1, params=params, model=result_model, curve=curve,
        updates=server.version, steps=server.steps, wall_time=t1 - t0,
        staleness={int(k): int(v) for k, v in server.staleness.items()},
        staleness_by_shard=[{int(k): int(v) for k, v in server.staleness.items()}],
        worker_stats=[{"steps": total, "compute_s": compute, "wait_s": 0.0}],
        options={"optimizer": name, **server_opts, "epochs": epochs, "batch_size": batch_size, "seed": seed})


FUNCTIONS: dict[str, Callable[..., DistributedResult]] = {
    "downpour": downpour, "dtadagrad": delay_tolerant_adagrad, "easgd": easgd, "eamsgd": eamsgd,
    "sync": sync_sgd, "serial": serial_sgd,
}


def run(algorithm: str, problem: Any, *, seed: int = 0, epochs: int | None = None,
        batch_size: int | None = None, **kwargs: Any) -> DistributedResult:
    """Run ``algorithm`` (one of :data:`ALGORITHMS`) on a benchmark problem: a name of
    ``sgdlab.problems`` (e.g. "digits_mlp"), a ``Problem`` or a built ``Task``. The model is
    built from ``seed``; ``epochs`` and ``batch_size`` default to the problem's quick budget; the
    curve is on the validation split, with the problem's metric.
    """
    if algorithm not in FUNCTIONS:
        raise ValueError(f"Invalid algorithm: {algorithm!r} (expected one of {', '.join(ALGORITHMS)})")
    task, budget = _task(problem, seed)
    epochs = epochs if epochs is not None else budget.epochs if budget else 1
    if batch_size is None:
        batch_size = budget.batch_size if budget and budget.batch_size else 32
    return FUNCTIONS[algorithm](task.model, task.loss_fn, task.train, epochs=epochs, batch_size=batch_size,
                                seed=seed, eval_data=task.val, metric_fn=task.metric_fn, **kwargs)


def _task(problem: Any, seed: int) -> tuple[Any, Any]:
    """(task, quick budget or None) of a problem name, Problem or Task."""
    if isinstance(problem, str):
        try:
            from .. import problems
        except ImportError as err:
            raise ValueError(f"Invalid problem: {problem!r} (the benchmark problems, "
                             f"sgdlab.problems, are not available: {err})") from err
        problem = problems.get(problem)  # ValueError naming the problem and the choices
    if hasattr(problem, "build") and hasattr(problem, "quick"):
        return problem.build(seed), problem.quick
    if all(hasattr(problem, a) for a in ("model", "loss_fn", "train")):
        return problem, None
    raise TypeError(f"problem must be a problem name, a Problem or a Task, got {type(problem).__name__}")
