"""What a distributed (or the serial baseline) run returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class Curve:
    """The loss of the server's parameters (EASGD: the centre's) during the run, one point per
    snapshot.

    Attributes:
        time: seconds since the workers started.
        updates: server updates so far.
        steps: minibatch gradients so far (all workers).
        loss: the loss on the evaluation data.
        metric: the metric on it (None: no ``metric_fn``).
        rounds: communication rounds so far, each a message to the server and one back from it per
            worker (only :func:`~sgdlab.distributed.simulate_workers` counts them; None otherwise).
        bytes: bytes sent so far, both ways (:func:`~sgdlab.distributed.simulate_workers`; None otherwise).
    """

    time: np.ndarray
    updates: np.ndarray
    steps: np.ndarray
    loss: np.ndarray
    metric: np.ndarray | None = None
    rounds: np.ndarray | None = None
    bytes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.loss)


@dataclass
class DistributedResult:
    """The outcome of a run.

    Attributes:
        algorithm: "downpour", "dtadagrad", "easgd", "eamsgd", "diloco", "sync" or "serial" (or, from
            :func:`~sgdlab.distributed.simulate_workers`, the algorithm simulated).
        workers: N.
        shards: K.
        params: the final flat parameter vector (the servers' slices, concatenated).
        model: a copy of the model with ``params`` loaded (and a worker's buffers: batch-norm
            statistics are not averaged, each replica keeps its own).
        curve: :class:`Curve`.
        updates: updates applied at the server (shard 0; EASGD: centre updates).
        steps: minibatch gradients computed by all workers (that reached the server).
        wall_time: seconds from the start of the workers to the end of the last one.
        staleness: ``{delay: count}`` of the updates seen at shard 0.
        staleness_by_shard: the same for all K shards.
        worker_stats: per worker: ``steps``, seconds computing gradients (``compute_s``) and waiting
            for the servers (``wait_s``), and ``nodes``, the Ray node id of each actor that ran its
            minibatch stream (more than one if it was replaced or its share reassigned; empty in
            this process).
        events: what happened besides training: failures, replacements, shard restarts.
        worker_failures: how many times a worker died.
        shard_restarts: how many times a shard was restored from its checkpoint.
        options: the algorithm's settings.
    """

    algorithm: str
    workers: int
    shards: int
    params: np.ndarray
    model: torch.nn.Module
    curve: Curve
    updates: int
    steps: int
    wall_time: float
    staleness: dict[int, int]
    staleness_by_shard: list[dict[int, int]] = field(default_factory=list)
    worker_stats: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    worker_failures: int = 0
    shard_restarts: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def updates_per_second(self) -> float:
        return self.updates / self.wall_time if self.wall_time > 0 else float("nan")

    @property
    def steps_per_second(self) -> float:
        """Minibatch gradients per second, all workers together."""
        return self.steps / self.wall_time if self.wall_time > 0 else float("nan")

    @property
    def final_loss(self) -> float:
        return float(self.curve.loss[-1])

    def staleness_histogram(self) -> np.ndarray:
        """counts[d] = updates that arrived d updates late (shard 0)."""
        if not self.staleness:
            return np.zeros(1, dtype=np.int64)
        counts = np.zeros(max(self.staleness) + 1, dtype=np.int64)
        for delay, count in self.staleness.items():
            counts[delay] = count
        return counts

    def staleness_quantile(self, q: float) -> float:
        """The q-quantile of the delays (0 <= q <= 1)."""
        counts = self.staleness_histogram()
        if counts.sum() == 0:
            return float("nan")
        cdf = np.cumsum(counts) / counts.sum()
        return float(np.searchsorted(cdf, q - 1e-12))

    @property
    def mean_staleness(self) -> float:
        counts = self.staleness_histogram()
        total = counts.sum()
        return float((np.arange(len(counts)) * counts).sum() / total) if total else float("nan")

    def summary(self) -> str:
        """One paragraph for the command line."""
        metric = ""
        if self.curve.metric is not None and len(self.curve.metric):
            metric = f", metric {self.curve.metric[-1]:.4f}"
        lines = [f"{self.algorithm}: {self.workers} worker(s), {self.shards} shard(s): final loss "
                 f"{self.final_loss:.5g}{metric} after {self.updates} updates ({self.steps} minibatch "
                 f"gradients) in {self.wall_time:.2f} s: {self.updates_per_second:.1f} updates/s, "
                 f"{self.steps_per_second:.1f} gradients/s",
                 f"staleness at the server: mean {self.mean_staleness:.2f}, median "
                 f"{self.staleness_quantile(0.5):.0f}, 90% {self.staleness_quantile(0.9):.0f}, max "
                 f"{max(self.staleness, default=0)}"]
        lines += [f"event: {e}" for e in self.events]
        return "\n".join(lines)
