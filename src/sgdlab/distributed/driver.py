"""The driver: what every run on Ray does besides its algorithm.

A :class:`Run` sets up the server shards and the workers of a :class:`~.cluster.Cluster`, hands the
workers their loops, watches for failures (a dead worker is replaced or its share reassigned, a dead
shard created again from its checkpoint, a silent one given up on after ``shard_timeout``) and
collects the result: the final parameters, the loss curve from the shards' snapshots, the staleness.
:class:`AsyncRun` drives the asynchronous algorithms (each worker runs its whole share in one call),
:class:`SyncSGDRun` and :class:`SyncEASGDRun` the synchronous ones (rounds with a barrier after each).
The algorithms themselves (``algorithms``) only say which server the shards run, which loop the
workers run, and how many updates that makes.

A run is described by three records: :class:`Settings` (the common arguments of every algorithm),
:class:`ServerSpec` (what each shard runs) and the algorithm's own options (reported in the result).

A worker that dies (its process, or its whole node) is replaced by a new worker actor, which Ray
places on a node that is still there; if none can be placed within ``shard_timeout`` seconds (the
nodes left have no room), the run goes on with the workers it has: an asynchronous run gives the
rest of the dead worker's share to the others, a synchronous one holds its rounds without it.
Either way ``result.events`` says what happened, and every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import torch

from .._validation import argument_error
from ..train._data import Data
from ..train.loop import evaluate
from .cluster import Cluster, ShardSlot, require_ray
from .result import Curve, DistributedResult
from .server import shard_bounds
from .worker import Replica

_POLL_S = 0.25
# how long a dead worker's node may take to be marked dead before its death is put down to the worker
NODE_DEATH_GRACE_S = 1.0


@dataclass(frozen=True)
class Settings:
    """The arguments every algorithm on Ray takes (checked by the algorithm's function; their meaning
    is in its docstring)."""

    workers: int
    shards: int
    epochs: int
    batch_size: int
    seed: int
    eval_data: Any
    metric_fn: Callable | None
    curve_points: int
    checkpoint_every: int
    checkpoint_dir: str | Path | None
    on_worker_failure: str
    shard_timeout: float
    threads: int

    @classmethod
    def of(cls, arguments: Mapping[str, Any]) -> Settings:
        """The settings among an algorithm function's ``arguments`` (its ``locals()``)."""
        return cls(**{f.name: arguments[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class ServerSpec:
    """What every shard runs: ``server.make_server(kind, slice, **options)``."""

    kind: str
    options: dict[str, Any]


def record_every(planned_updates: int, curve_points: int) -> int:
    """Snapshot the parameters every this many updates, for about ``curve_points`` points."""
    return max(1, planned_updates // curve_points)


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


class Run:
    """One run on a cluster: set up the shards and workers, drive the algorithm, watch for failures,
    collect the result.

    Args:
        algorithm: its name in the result.
        model, loss_fn, train: what to train (``train`` as ``sgdlab.train.fit`` takes it).
        settings: the common arguments.
        server: what the shards run.
        options: the algorithm's own settings, reported in the result.
    """

    def __init__(self, algorithm: str, model: torch.nn.Module, loss_fn: Callable, train: Any,
                 settings: Settings, server: ServerSpec, options: dict[str, Any]) -> None:
        self.algorithm, self.model, self.loss_fn = algorithm, model, loss_fn
        self.settings, self.server = settings, server
        self.data = train if isinstance(train, Data) else Data(train, "train")
        if settings.workers > len(self.data):
            raise argument_error("workers", settings.workers, f"at most the {len(self.data)} training examples")
        probe = Replica(copy.deepcopy(model), loss_fn, self.data, batch_size=settings.batch_size, seed=settings.seed)
        self.x0 = probe.flat()
        self.bounds = shard_bounds(len(self.x0), settings.shards)
        self.N, self.K = settings.workers, settings.shards
        self.total_steps = settings.epochs * probe.batches_per_epoch
        self.eval_data = settings.eval_data if settings.eval_data is not None else train
        self.options = {"epochs": settings.epochs, "batch_size": settings.batch_size, "seed": settings.seed,
                        **options}
        order = np.random.default_rng([settings.seed, 7]).permutation(len(self.data))
        self.examples = [np.sort(part) for part in np.array_split(order, self.N)]
        self.events: list[str] = []
        self.failures = 0
        self.stats: list[dict[str, Any]] = [{"steps": 0, "compute_s": 0.0, "wait_s": 0.0, "nodes": []}
                                            for _ in range(self.N)]
        # the state of the run, from execute() on
        self.ray: Any = None
        self.cluster: Cluster | None = None
        self.handles: list[Any] = []        # the worker actors, by worker index (async: those alive)
        self.slots: list[ShardSlot] = []    # the shard actors, by shard index
        self.model_ref: Any = None
        self.data_refs: list[Any] = []
        self.pings: list[Any] = []          # per shard: (ping in flight, when sent) or None
        self.last_ok: list[float] = []      # per shard: when it last answered a ping
        self.t0: float | None = None        # when the workers started
        self.t1: float | None = None        # when the last one finished
        self.round = 0                      # synchronous runs: the round in progress
        self.nodes: dict[int, str] = {}     # id(worker actor) -> the Ray node it runs on
        self.no_room = False                # True once a replacement worker could not be placed

    # ---- plumbing --------------------------------------------------------------------------------
    def _event(self, message: str) -> None:
        self.events.append(message if self.t0 is None else f"{time.time() - self.t0:.2f} s: {message}")

    def _shard_spec(self) -> dict[str, Any]:
        return {"handles": [s.handle for s in self.slots], "names": [s.name for s in self.slots],
                "namespace": self.cluster.namespace, "bounds": self.bounds, "timeout": self.settings.shard_timeout}

    def _setup_worker(self, handle: Any, w: int) -> Any:
        s = self.settings
        return handle.setup.remote(self.model_ref, self.loss_fn, self.data_refs[w], batch_size=s.batch_size,
                                   seed=s.seed, stream=w, shards=self._shard_spec(), threads=s.threads)

    def _silent(self, k: int, method: str) -> ConnectionError:
        return ConnectionError(f"server shard {k} did not answer {method} within "
                               f"{self.settings.shard_timeout:g} s (is the cluster still up?)")

    def _ask(self, k: int, method: str, *args: Any) -> Any:
        """Call shard k from the driver, creating it anew if it died for good."""
        ray, timeout = self.ray, self.settings.shard_timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                return ray.get(getattr(self.slots[k].handle, method).remote(*args),
                               timeout=max(0.1, deadline - time.monotonic()))
            except ray.exceptions.RayActorError:
                if time.monotonic() > deadline:
                    raise ConnectionError(f"server shard {k} did not come back within {timeout:g} s") from None
                self._revive(k)
            except ray.exceptions.GetTimeoutError:
                raise self._silent(k, method) from None

    def _ask_all(self, method: str, *args: Any) -> list[Any]:
        ray = self.ray
        refs = [getattr(s.handle, method).remote(*args) for s in self.slots]
        out = []
        for k, ref in enumerate(refs):
            try:
                out.append(ray.get(ref, timeout=self.settings.shard_timeout))
            except ray.exceptions.RayActorError:
                self._revive(k)
                out.append(self._ask(k, method, *args))
            except ray.exceptions.GetTimeoutError:
                raise self._silent(k, method) from None
        return out

    def _revive(self, k: int) -> None:
        self.cluster.revive(self.slots[k])
        self.pings[k] = None
        self._event(f"server shard {k} died; started again from its checkpoint")

    def _watch_shards(self) -> None:
        """Ping every shard now and then; create a dead one anew; give up on one silent too long."""
        ray, now = self.ray, time.monotonic()
        for k, slot in enumerate(self.slots):
            ping = self.pings[k]
            if ping is None:
                if now - self.last_ok[k] >= 0.5:
                    self.pings[k] = (slot.handle.ping.remote(), now)
                continue
            ref, sent = ping
            done, _ = ray.wait([ref], timeout=0)
            if done:
                try:
                    ray.get(ref)
                    self.last_ok[k] = now
                    self.pings[k] = None
                except ray.exceptions.RayActorError:
                    self._revive(k)
            elif now - sent > self.settings.shard_timeout:
                raise ConnectionError(f"server shard {k} has not answered for {now - sent:.0f} s "
                                      "(is the cluster still up?)")

    def _wait(self, refs: list[Any]) -> list[Any]:
        """ray.wait for any of ``refs``, watching the shards meanwhile."""
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=_POLL_S)
        self._watch_shards()
        return ready

    def _worker_died(self, w: int, err: Exception, handle: Any) -> str:
        """Count the death of worker actor ``handle`` (worker w's), let the cluster forget it (or end
        the run, by policy); returns what killed it, in words."""
        self.failures += 1
        self.cluster.discard([handle])
        cause = _cause(err)
        node = self.nodes.get(id(handle))
        if "its node" not in cause and node is not None and self._node_gone(node):
            cause = f"{type(err).__name__}: its node {node[:8]} died"
        if self.settings.on_worker_failure == "raise":
            raise RuntimeError(f"worker {w} died mid-run ({cause}) and on_worker_failure='raise'") from err
        return cause

    def _node_gone(self, node: str) -> bool:
        """Whether Ray counts ``node`` dead, or does within NODE_DEATH_GRACE_S: when a node is stopped
        its actors are killed first (SIGTERM), and their error can arrive before the cluster marks
        the node dead, without the node's death in its message."""
        deadline = time.monotonic() + NODE_DEATH_GRACE_S
        while True:
            try:
                alive = any(n["NodeID"] == node and n["Alive"] for n in self.ray.nodes())
            except Exception:  # the cluster's state unreadable: say nothing of the node
                return False
            if not alive:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def _placed(self, handle: Any, w: int, info: dict[str, Any]) -> None:
        """Worker actor ``handle`` is set up for worker w's stream on node ``info["node"]``."""
        self.nodes[id(handle)] = info["node"]
        self.stats[w]["nodes"].append(info["node"])

    def _replacement(self, w: int) -> Any | None:
        """A new worker actor set up for worker w's stream, or None if none could be placed within
        ``shard_timeout`` seconds (then no further one is tried: the cluster has no room)."""
        if self.no_room:
            return None
        ray, timeout = self.ray, self.settings.shard_timeout
        handle = self.cluster.new_worker()
        try:
            self._placed(handle, w, ray.get(self._setup_worker(handle, w), timeout=timeout))
            return handle
        except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError) as err:
            self.cluster.discard([handle])
            self.no_room = True
            self._event(f"no new worker could be started for worker {w} within {timeout:g} s "
                        f"({_cause(err)}); the run goes on with the workers it has")
            return None

    def _add_stats(self, w: int, stats: dict[str, Any]) -> None:
        for key in ("steps", "compute_s", "wait_s"):
            self.stats[w][key] += stats[key]

    # ---- the run ---------------------------------------------------------------------------------
    def execute(self, cluster: Cluster) -> DistributedResult:
        """Run on ``cluster`` (its actors are borrowed, and given back unless the run failed)."""
        self.ray = ray = require_ray()
        self.cluster = cluster
        self.handles, self.slots = cluster.take(self.N, self.K)
        s = self.settings
        try:
            run_dir = Path(s.checkpoint_dir) if s.checkpoint_dir is not None else \
                cluster.dir / f"run-{uuid.uuid4().hex[:8]}"
            every = record_every(self.planned_updates(), s.curve_points)
            setups = []
            for k, slot in enumerate(self.slots):
                config = {"kind": self.server.kind, "options": self.server.options, "index": k,
                          "params": torch.from_numpy(self.x0[self.bounds[k]:self.bounds[k + 1]].copy()),
                          "record_every": every, "checkpoint_every": s.checkpoint_every,
                          "checkpoint_dir": str(run_dir)}
                setups.append(slot.handle.setup.remote(config))
            self.model_ref = ray.put(self.model)
            self.data_refs = [ray.put(_subset(self.data, idx)) for idx in self.examples]
            self._start(setups)
            self.pings = [None] * self.K
            self.last_ok = [time.monotonic()] * self.K
            self.t0 = time.time()
            self.drive()
            self.t1 = time.time()
            result = self._collect()
        except BaseException:
            cluster.discard(self.handles, self.slots)
            cluster.give_back([], [])  # nothing is lent any more
            raise
        cluster.give_back(self.alive_handles(), self.slots)
        return result

    def _start(self, shard_setups: list[Any]) -> None:
        """Wait for the shards and workers to be set up; a worker that dies meanwhile is replaced
        (unless ``on_worker_failure="raise"``); nothing placed within ``shard_timeout``: TimeoutError."""
        ray, cluster, timeout = self.ray, self.cluster, self.settings.shard_timeout
        deadline = time.monotonic() + timeout
        pending = {ref: None for ref in shard_setups}
        pending.update({self._setup_worker(h, w): w for w, h in enumerate(self.handles)})
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=len(pending),
                                timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"the {self.N} workers and {self.K} shards did not start within "
                                   f"{timeout:g} s (resources free: {ray.available_resources()}; "
                                   f"each worker asks for {cluster.worker_cpus:g} CPUs, each shard for "
                                   f"{cluster.shard_cpus:g})")
            for ref in ready:
                w = pending.pop(ref)
                try:
                    info = ray.get(ref)
                except ray.exceptions.RayActorError as err:
                    if w is None:  # a shard: nothing to restore yet
                        raise
                    cause = self._worker_died(w, err, self.handles[w])
                    handle = cluster.new_worker()
                    self.handles[w] = handle
                    pending[self._setup_worker(handle, w)] = w
                    self._event(f"worker {w} died while starting ({cause}); a new worker takes its place")
                    continue
                if w is not None:
                    self._placed(self.handles[w], w, info)

    def planned_updates(self) -> int:
        """How many updates the shards will apply (for the snapshot period)."""
        raise NotImplementedError

    def drive(self) -> None:
        """Run the algorithm on the workers and shards set up."""
        raise NotImplementedError

    def alive_handles(self) -> list[Any]:
        """The worker actors still in the run (given back to the cluster after it)."""
        return list(self.handles)

    def _collect(self) -> DistributedResult:
        ray = self.ray
        summaries = self._ask_all("finish")
        snapshots = self._ask_all("snapshots")
        params = np.concatenate(self._ask_all("params"))
        model = copy.deepcopy(self.model)
        if any(True for _ in model.buffers()):
            try:
                buffers = ray.get(self.alive_handles()[0].buffers.remote(), timeout=self.settings.shard_timeout)
                model.load_state_dict(buffers, strict=False)
            except (ray.exceptions.RayError, IndexError):
                self._event("a worker's buffers could not be fetched; the model keeps its initial ones")
        loss_curve = curve(model, self.loss_fn, self.eval_data, self.settings.metric_fn, snapshots, self.t0)
        load_flat(model, params)
        restarts = sum(s["restarts"] for s in summaries)
        if restarts:
            self.events.append(f"server shards restored from their checkpoints {restarts} time(s) in all "
                               "(restarted by Ray or created again by the driver)")
        staleness = [{int(d): int(c) for d, c in sorted(s["staleness"].items())} for s in summaries]
        return DistributedResult(
            algorithm=self.algorithm, workers=self.N, shards=self.K, params=params, model=model,
            curve=loss_curve, updates=int(summaries[0]["version"]), steps=int(summaries[0]["steps"]),
            wall_time=self.t1 - self.t0, staleness=staleness[0], staleness_by_shard=staleness,
            worker_stats=self.stats, events=self.events, worker_failures=self.failures,
            shard_restarts=restarts, options=self.options)


def execute(run: Run, cluster: Cluster | None, address: str | None, connect_timeout: float) -> DistributedResult:
    """``run`` on ``cluster``, or on a cluster opened for it (local, or at ``address``) and closed after."""
    if cluster is not None:
        return run.execute(cluster)
    with Cluster(address, connect_timeout=connect_timeout) as opened:
        return run.execute(opened)


#: ``launch(run, worker actor, w, first step, steps)``: start worker w's loop; returns the call's ref
Launch = Callable[["AsyncRun", Any, int, int, int], Any]


class AsyncRun(Run):
    """Downpour SGD, delay-tolerant AdaGrad and asynchronous EASGD: each worker runs its whole
    share in one call (``launch``); a worker that dies is replaced, or its share reassigned.
    ``planned(shares)``: the updates the shards apply when the workers take these many steps."""

    def __init__(self, algorithm: str, model: torch.nn.Module, loss_fn: Callable, train: Any,
                 settings: Settings, server: ServerSpec, options: dict[str, Any], *, launch: Launch,
                 planned: Callable[[list[int]], int]) -> None:
        super().__init__(algorithm, model, loss_fn, train, settings, server, options)
        self.launch, self.planned = launch, planned
        self.shares = _parts(self.total_steps, self.N)

    def planned_updates(self) -> int:
        return self.planned(self.shares)

    def drive(self) -> None:
        ray, policy = self.ray, self.settings.on_worker_failure
        running = {self.launch(self, h, w, 0, self.shares[w]): (w, h) for w, h in enumerate(self.handles)}
        queue: deque[tuple[int, int, int]] = deque()  # (worker, first step, steps) left to run
        idle: list[Any] = []
        while running or queue:
            for ref in self._wait(list(running)) if running else []:
                w, handle = running.pop(ref)
                try:
                    self._add_stats(w, ray.get(ref))
                    idle.append(handle)
                except ray.exceptions.RayActorError as err:
                    cause = self._worker_died(w, err, handle)
                    done = min(self._ask(0, "progress", w), self.shares[w])
                    self.handles.remove(handle)
                    if done < self.shares[w]:
                        queue.append((w, done, self.shares[w] - done))
                    self._event(f"worker {w} died ({cause}) after {done} of its {self.shares[w]} minibatches"
                                + ("" if done < self.shares[w] else "; nothing was left to do"))
            while queue:
                w, start, steps = queue[0]
                handle = self._replacement(w) if policy == "replace" else None
                if handle is not None:
                    self.handles.append(handle)
                    self._event(f"a new worker takes over the rest of worker {w}'s share")
                elif idle:  # the actor runs its calls in order: setup, then the loop
                    handle = idle.pop()
                    self._setup_worker(handle, w)
                    self.stats[w]["nodes"].append(self.nodes.get(id(handle), "?"))
                    self._event(f"the first worker to finish takes over the rest of worker {w}'s share")
                elif not running:  # every worker is gone
                    handle = self._replacement(w)
                    if handle is None:
                        raise RuntimeError(f"every worker died and no new one could be started: {steps} "
                                           f"minibatches of worker {w}'s share were not run")
                    self.handles.append(handle)
                    self._event(f"a new worker takes over the rest of worker {w}'s share")
                else:
                    break  # wait for a worker to finish its own share
                queue.popleft()
                running[self.launch(self, handle, w, start, steps)] = (w, handle)


class SyncRun(Run):
    """Synchronous SGD, synchronous EASGD and DiLoCo: rounds driven from here, a barrier after each.
    ``active``: the workers taking part (all, unless one died and no replacement could be placed);
    ``share``: the minibatches of each worker's stream, ceil(T / N)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.active = list(range(self.N))
        self.share = math.ceil(self.total_steps / self.N)

    def alive_handles(self) -> list[Any]:
        return [self.handles[w] for w in self.active]

    def _ask_workers(self, method: str, args: Callable[[int], tuple]) -> None:
        """Call ``method(*args(w))`` on every active worker and wait (``shard_timeout`` at most); a
        worker that died meanwhile is left to the first round, which replaces it."""
        ray = self.ray
        refs = [getattr(self.handles[w], method).remote(*args(w)) for w in self.active]
        ray.wait(refs, num_returns=len(refs), timeout=self.settings.shard_timeout)

    def _round(self, calls: dict[int, Callable[[Any], Any]], on_replace: Callable[[Any, int], None]) -> None:
        """Run one call per active worker; a worker that dies is replaced (it joins the next round)
        or, if no new worker can be placed, leaves the run."""
        ray = self.ray
        running = {call(self.handles[w]): w for w, call in calls.items()}
        while running:
            for ref in self._wait(list(running)):
                w = running.pop(ref)
                try:
                    self._add_stats(w, ray.get(ref))
                except ray.exceptions.RayActorError as err:
                    cause = self._worker_died(w, err, self.handles[w])
                    handle = self._replacement(w)
                    if handle is None:
                        self.active.remove(w)
                        self._event(f"worker {w} died ({cause}) in round {self.round}; the rounds go on "
                                    f"with the {len(self.active)} worker(s) left")
                        if not self.active:
                            raise RuntimeError("every worker died and no new one could be started") from err
                        continue
                    self.handles[w] = handle
                    on_replace(handle, w)
                    self._event(f"worker {w} died ({cause}) in round {self.round}; a new worker takes "
                                "its place from the next round")


class SyncSGDRun(SyncRun):
    """Synchronous SGD: each round every worker adds a gradient; the shards then apply their mean."""

    def planned_updates(self) -> int:
        return math.ceil(self.total_steps / self.N)

    def drive(self) -> None:
        for self.round in range(self.planned_updates()):
            r = self.round
            self._round({w: (lambda h, w=w, r=r: h.sync_sgd.remote(w, r)) for w in self.active},
                        on_replace=lambda h, w: None)
            self._ask_all("apply")


@dataclass(frozen=True)
class ElasticSpec:
    """The workers' side of (synchronous) EASGD: their learning rate eta, momentum delta and period tau."""

    lr: float
    momentum: float
    tau: int


class SyncEASGDRun(SyncRun):
    """Synchronous EASGD: every tau steps all workers exchange with the same centre, which then moves."""

    def __init__(self, algorithm: str, model: torch.nn.Module, loss_fn: Callable, train: Any,
                 settings: Settings, server: ServerSpec, options: dict[str, Any], *, elastic: ElasticSpec) -> None:
        super().__init__(algorithm, model, loss_fn, train, settings, server, options)
        self.elastic = elastic

    def planned_updates(self) -> int:
        return math.ceil(self.share / self.elastic.tau) + 1

    def drive(self) -> None:
        lr, momentum, tau = self.elastic.lr, self.elastic.momentum, self.elastic.tau
        self._ask_workers("elastic_start", lambda w: (w, lr, momentum))
        reported = [0] * self.N  # local steps each worker has made since its last exchange
        rounds = math.ceil(self.share / tau)
        for self.round in range(rounds + 1):  # the last round: only the exchange
            start = self.round * tau
            steps = min(tau, self.share - start) if self.round < rounds else 0
            replaced: set[int] = set()

            def restart(handle: Any, w: int) -> None:  # a new worker starts from the centre
                handle.elastic_start.remote(w, lr, momentum)
                replaced.add(w)

            self._round({w: (lambda h, w=w: h.easgd_round.remote(w, start, steps, reported[w]))
                         for w in self.active}, on_replace=restart)
            reported = [0 if w in replaced else steps for w in range(self.N)]
            self._ask_all("end_round")


@dataclass(frozen=True)
class InnerSpec:
    """DiLoCo's workers: their inner optimizer (a name of ``sgdlab.optim``, its lr and other
    arguments) and H, the inner steps per round."""

    optimizer: str
    lr: float
    options: dict[str, Any]
    steps: int


class DiLoCoRun(SyncRun):
    """DiLoCo: every round each worker starts from the server's parameters, takes H inner steps and
    pushes theta_{t-1} - theta_i; the shards average the pushes and take one outer step."""

    def __init__(self, algorithm: str, model: torch.nn.Module, loss_fn: Callable, train: Any,
                 settings: Settings, server: ServerSpec, options: dict[str, Any], *, inner: InnerSpec) -> None:
        super().__init__(algorithm, model, loss_fn, train, settings, server, options)
        self.inner = inner

    def planned_updates(self) -> int:
        return math.ceil(self.share / self.inner.steps)

    def drive(self) -> None:
        inner = self.inner
        self._ask_workers("diloco_start", lambda w: (inner.optimizer, inner.lr, inner.options))
        for self.round in range(self.planned_updates()):
            start = self.round * inner.steps
            steps = min(inner.steps, self.share - start)
            self._round({w: (lambda h, w=w: h.diloco_round.remote(w, start, steps)) for w in self.active},
                        on_replace=lambda h, w: h.diloco_start.remote(inner.optimizer, inner.lr, inner.options))
            self._ask_all("apply")


def _cause(err: BaseException) -> str:
    """What killed an actor, in words: "its node 1a2b3c4d died" when Ray says so, else the error's type."""
    found = re.search(r"node has died\. Node Id: ([0-9a-f]+)", str(err))
    return f"{type(err).__name__}: its node {found[1][:8]} died" if found else type(err).__name__


# ---- in this process: the curve and the result's model ---------------------------------------------

@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch.set_num_threads(n) for the block, then the previous number again."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def load_flat(model: torch.nn.Module, x: np.ndarray) -> None:
    """Set the model's parameters that require gradients from the flat vector ``x``."""
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(torch.as_tensor(x).to(params[0].dtype), params)


def finish_in_process(replica: Replica, server: Any, loss_fn: Callable, eval_data: Any,
                      metric_fn: Callable | None, snaps: list,
                      t0: float) -> tuple[torch.nn.Module, Curve, np.ndarray]:
    """The model, loss curve and final parameters of a run whose server lived in this process
    (serial SGD, the delay simulation): a copy of the replica's model holding the final parameters."""
    model = copy.deepcopy(replica.model)
    loss_curve = curve(model, loss_fn, eval_data, metric_fn, [snaps], t0)
    params = server.x.numpy().copy()
    load_flat(model, params)
    return model, loss_curve, params


def curve(model: torch.nn.Module, loss_fn: Callable, eval_data: Any, metric_fn: Callable | None,
          snapshots: list[list[tuple[int, float, int, np.ndarray]]], t0: float) -> Curve:
    """The loss at each version every shard has a snapshot of (its slices concatenated)."""
    by_shard = [{s[0]: s for s in snaps} for snaps in snapshots]
    versions = sorted(set.intersection(*(set(d) for d in by_shard)))
    eval_model = copy.deepcopy(model)
    data = eval_data if isinstance(eval_data, Data) else Data(eval_data, "eval_data")
    times, steps, losses, metrics = [], [], [], []
    for v in versions:
        parts = [d[v] for d in by_shard]
        load_flat(eval_model, np.concatenate([p[3] for p in parts]))
        loss, metric = evaluate(eval_model, loss_fn, data, metric_fn)
        times.append(max(0.0, max(p[1] for p in parts) - t0))
        steps.append(max(p[2] for p in parts))
        losses.append(loss)
        metrics.append(metric)
    return Curve(time=np.array(times), updates=np.array(versions), steps=np.array(steps),
                 loss=np.array(losses), metric=np.array(metrics, dtype=float) if metric_fn else None)
