"""The Ray actors: a server shard wraps one ``server.Server``; a worker wraps a ``worker.Replica``.

Shard actors are named, created with ``max_restarts=-1, max_task_retries=-1`` and checkpoint their
server every ``checkpoint_every`` updates (an atomic file replace). A shard that Ray restarts (a
crash, ``ray.kill(shard, no_restart=False)``) runs ``__init__`` again, finds its configuration in its
home directory and restores the last checkpoint; calls in flight are retried by Ray. A shard killed
for good (``ray.kill(shard)``) is created again under the same name by the driver (``cluster``),
restoring the same checkpoint; workers find it by name (:class:`RayShards`). Either way the updates
applied after the last checkpoint are lost, and a push that was applied but not acknowledged is
applied again (at least once).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError

from .server import make_server
from .worker import (ElasticWorker, InnerTrainer, Replica, diloco_round, downpour_loop, easgd_loop,
                     easgd_sync_round, read_all, sync_sgd_step)

#: Methods of a server that change it (the others only read).
UPDATES = ("push", "add", "apply", "exchange", "sync_exchange", "end_round")


def _save(obj: Any, path: Path) -> None:
    """Write atomically: a reader (a restarting shard) sees the old file or the new one, never half."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _load(path: Path) -> Any:
    return torch.load(path, weights_only=False)  # sgdlab's own files: numpy arrays and dicts inside


class ShardActor:
    """One parameter-server shard: a server over one slice, its snapshots and its checkpoints.

    ``home`` (fixed for the actor's life) holds the configuration of the current run, so that a
    restart knows what to restore; the checkpoint and the snapshots live in the run's
    ``checkpoint_dir``.
    """

    def __init__(self, home: str) -> None:
        torch.set_num_threads(1)  # a slice update is small: more threads only contend for the cores
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.server = None
        self.config: dict[str, Any] = {}
        self.snaps: list[tuple[int, float, int, np.ndarray]] = []
        self.restarts = 0
        if (self.home / "config.pt").exists():
            self._restore()

    # ---- files -------------------------------------------------------------------------------
    def _ckpt_path(self) -> Path:
        return Path(self.config["checkpoint_dir"]) / f"shard-{self.config['index']}.pt"

    def _snap_dir(self) -> Path:
        return Path(self.config["checkpoint_dir"]) / f"shard-{self.config['index']}-snapshots"

    def setup(self, config: dict[str, Any]) -> int:
        """Start a run: a fresh server from ``config`` (kind, params, options, index, record_every,
        checkpoint_every, checkpoint_dir); returns this process's id."""
        self.config = dict(config)
        Path(self.config["checkpoint_dir"]).mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self._snap_dir(), ignore_errors=True)
        self._ckpt_path().unlink(missing_ok=True)
        self._snap_dir().mkdir(parents=True)
        _save(self.config, self.home / "config.pt")
        self.server = make_server(config["kind"], config["params"], **config.get("options", {}))
        self.snaps = []
        self.restarts = 0
        (self.home / "restarts").write_text("0")
        self._snapshot()
        self.checkpoint()
        return os.getpid()

    def _restore(self) -> None:
        self.config = _load(self.home / "config.pt")
        self.server = make_server(self.config["kind"], self.config["params"], **self.config.get("options", {}))
        if self._ckpt_path().exists():
            self.server.load_state_dict(_load(self._ckpt_path())["server"])
        self.snaps = []
        for path in sorted(self._snap_dir().glob("*.pt")):
            snap = _load(path)
            if snap[0] <= self.server.version:
                self.snaps.append(snap)
            else:  # taken after the checkpoint: that history is lost with the restart
                path.unlink(missing_ok=True)
        restarts_file = self.home / "restarts"
        self.restarts = int(restarts_file.read_text() or 0) + 1 if restarts_file.exists() else 1
        restarts_file.write_text(str(self.restarts))

    def _snapshot(self) -> None:
        s = self.server
        snap = (s.version, time.time(), s.steps, s.x.numpy().copy())
        self.snaps = [p for p in self.snaps if p[0] < s.version] + [snap]
        _save(snap, self._snap_dir() / f"{s.version:012d}.pt")

    def checkpoint(self) -> int:
        """Write the server's state now; returns the version written."""
        _save({"server": self.server.state_dict(), "time": time.time()}, self._ckpt_path())
        return self.server.version

    # ---- the server's methods ------------------------------------------------------------------
    def _call(self, method: str, *args: Any) -> Any:
        before = self.server.version
        out = getattr(self.server, method)(*args)
        version = self.server.version
        if version != before:
            if version % self.config["record_every"] == 0:
                self._snapshot()
            every = self.config["checkpoint_every"]
            if every and version % every == 0:
                self.checkpoint()
        return out

    def read(self, worker: int) -> tuple[np.ndarray, int]:
        return self._call("read", worker)

    def push(self, worker: int, grad: np.ndarray, read_version: int, steps: int = 1) -> int:
        return self._call("push", worker, grad, read_version, steps)

    def add(self, worker: int, grad: np.ndarray, read_version: int, steps: int = 1) -> int:
        return self._call("add", worker, grad, read_version, steps)

    def apply(self) -> int:
        return self._call("apply")

    def exchange(self, worker: int, x: np.ndarray, steps: int = 0) -> np.ndarray:
        return self._call("exchange", worker, x, steps)

    def sync_exchange(self, worker: int, x: np.ndarray, steps: int = 0) -> np.ndarray:
        return self._call("sync_exchange", worker, x, steps)

    def end_round(self) -> bool:
        return self._call("end_round")

    # ---- for the driver ------------------------------------------------------------------------
    def params(self) -> np.ndarray:
        return self.server.x.numpy().copy()

    def progress(self, worker: int) -> int:
        return self.server.progress.get(worker, 0)

    def finish(self) -> dict[str, Any]:
        """The run is over: a last snapshot (unless one was taken at this version) and the summary."""
        if not self.snaps or self.snaps[-1][0] != self.server.version:
            self._snapshot()
        return self.summary()

    def summary(self) -> dict[str, Any]:
        s = self.server
        return {"version": s.version, "steps": s.steps, "staleness": dict(s.staleness),
                "progress": dict(s.progress), "restarts": self.restarts, "pid": os.getpid()}

    def snapshots(self) -> list[tuple[int, float, int, np.ndarray]]:
        return list(self.snaps)

    def state(self) -> dict[str, Any]:
        """The server's full state (what a checkpoint holds)."""
        return self.server.state_dict()

    def load_checkpoint(self) -> dict[str, Any]:
        """The server state in this shard's checkpoint file."""
        return _load(self._ckpt_path())["server"]

    def ping(self) -> int:
        return os.getpid()


class _Call:
    """A call in flight to shard ``k``: what to send again if the shard has to be found anew."""

    __slots__ = ("k", "method", "args", "ref")

    def __init__(self, k: int, method: str, args: tuple, ref: Any) -> None:
        self.k, self.method, self.args, self.ref = k, method, args, ref


class RayShards:
    """The shard client of a worker (the interface of ``worker.LocalShards``), over Ray.

    A call to a shard that died for good is sent again to the shard of the same name once the driver
    has created it anew (found with ``ray.get_actor``); if none answers within ``timeout`` seconds,
    :class:`ConnectionError`.
    """

    def __init__(self, handles: list[Any], names: list[str], namespace: str, bounds: list[int],
                 timeout: float) -> None:
        self.handles, self.names, self.namespace = list(handles), list(names), namespace
        self.bounds, self.timeout = list(bounds), timeout

    def call(self, k: int, method: str, *args: Any) -> _Call:
        return _Call(k, method, args, getattr(self.handles[k], method).remote(*args))

    def ready(self, futures: list[_Call]) -> bool:
        refs = [f.ref for f in futures]
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=True)
        return len(done) == len(refs)

    def get(self, futures: list[_Call]) -> list[Any]:
        return [self._get(f) for f in futures]

    def _get(self, f: _Call) -> Any:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return ray.get(f.ref, timeout=max(0.1, deadline - time.monotonic()))
            except (RayActorError, ActorUnavailableError) as err:
                if time.monotonic() > deadline:
                    raise ConnectionError(f"server shard {f.k} ({self.names[f.k]}) did not come back "
                                          f"within {self.timeout:g} s: {err}") from err
                self._reconnect(f.k, deadline)
                f.ref = getattr(self.handles[f.k], f.method).remote(*f.args)
            except GetTimeoutError as err:
                raise ConnectionError(f"server shard {f.k} ({self.names[f.k]}) did not answer "
                                      f"{f.method} within {self.timeout:g} s") from err

    def _reconnect(self, k: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                handle = ray.get_actor(self.names[k], namespace=self.namespace)
                ray.get(handle.ping.remote(), timeout=max(0.1, min(5.0, deadline - time.monotonic())))
                self.handles[k] = handle
                return
            except (ValueError, RayActorError, ActorUnavailableError, GetTimeoutError):
                time.sleep(0.1)


class WorkerActor:
    """A worker: a model replica with its data shard, running one algorithm's loop per call."""

    def setup(self, model: torch.nn.Module, loss_fn: Any, data: Any, *, batch_size: int, seed: int,
              stream: int, shards: dict[str, Any], threads: int = 1) -> dict[str, Any]:
        """Take worker ``stream``'s replica and data; returns where this actor runs (pid, Ray node id)."""
        torch.set_num_threads(threads)
        self.replica = Replica(model, loss_fn, data, batch_size=batch_size, seed=seed, stream=stream)
        self.shards = RayShards(**shards)
        self.elastic: ElasticWorker | None = None
        self.trainer: InnerTrainer | None = None
        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}

    def downpour(self, worker: int, start: int, steps: int, n_fetch: int, n_push: int,
                 local_lr: float) -> dict[str, Any]:
        return downpour_loop(self.replica, self.shards, worker, start, steps, n_fetch=n_fetch,
                             n_push=n_push, local_lr=local_lr)

    def elastic_start(self, worker: int, lr: float, momentum: float) -> None:
        """x^i <- the centre (read from the shards), v^i <- 0."""
        x, _ = read_all(self.shards, worker)
        self.elastic = ElasticWorker(self.replica, x, lr=lr, momentum=momentum)

    def easgd(self, worker: int, start: int, steps: int, tau: int) -> dict[str, Any]:
        return easgd_loop(self.elastic, self.shards, worker, start, steps, tau=tau)

    def easgd_round(self, worker: int, start: int, steps: int, reported: int) -> dict[str, Any]:
        return easgd_sync_round(self.elastic, self.shards, worker, start, steps, reported)

    def sync_sgd(self, worker: int, step: int) -> dict[str, Any]:
        return sync_sgd_step(self.replica, self.shards, worker, step)

    def diloco_start(self, optimizer: str, lr: float, optimizer_options: dict[str, Any]) -> None:
        """The inner optimizer, with a fresh state."""
        self.trainer = InnerTrainer(self.replica, optimizer, lr, optimizer_options)

    def diloco_round(self, worker: int, start: int, steps: int) -> dict[str, Any]:
        return diloco_round(self.trainer, self.shards, worker, start, steps)

    def buffers(self) -> dict[str, torch.Tensor]:
        return {name: b.detach().clone() for name, b in self.replica.model.named_buffers()}

    def ping(self) -> int:
        return os.getpid()


RemoteShard = ray.remote(ShardActor)
RemoteWorker = ray.remote(WorkerActor)
