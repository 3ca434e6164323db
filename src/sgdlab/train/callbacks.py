"""Hooks into :func:`sgdlab.train.fit`, and early stopping (the survey, Sec. 6.5) as one of them."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._validation import ArgumentValueError, Bool, Int, Options, Real, validate
from .history import History


@dataclass
class TrainContext:
    """What a callback sees of the run. ``epoch`` and ``batch`` count from 1; ``batch_indices`` are
    the training examples (indices into ``train``) of the batch just done. Call :meth:`stop` to end
    training; ``fit`` honours it at the end of the current epoch."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Any
    scheduler: Any
    history: History
    epochs: int
    has_val: bool
    has_metric: bool
    epoch: int = 0
    batch: int = 0
    batch_indices: np.ndarray | None = None
    stop_requested: bool = False
    stop_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self, reason: str) -> None:
        """Ask ``fit`` to stop after this epoch, recording ``reason`` in ``History.stop_reason``."""
        if not self.stop_requested:
            self.stop_requested = True
            self.stop_reason = reason


class Callback:
    """Base class of ``fit``'s callbacks: override the hooks you need (each does nothing here).

    ``record`` is the epoch's row of the History (a dict: epoch, train_loss, val_loss, val_metric, lr,
    time, updates). Hooks run in the order the callbacks are given, ``early_stopping`` last. A plain
    function in ``callbacks`` is called as ``fn(ctx, record)`` at the end of every epoch.

    Example:
        >>> from sgdlab.train import Callback
        >>> class StopBelow(Callback):
        ...     def on_epoch_end(self, ctx, record):
        ...         if record["train_loss"] < 1e-3:
        ...             ctx.stop("train_loss below 1e-3")
    """

    def on_train_begin(self, ctx: TrainContext) -> None: ...

    def on_epoch_begin(self, ctx: TrainContext) -> None: ...

    def on_batch_end(self, ctx: TrainContext, loss: float) -> None: ...

    def on_epoch_end(self, ctx: TrainContext, record: dict[str, Any]) -> None: ...

    def on_train_end(self, ctx: TrainContext) -> None: ...


_MONITORS = ("val_loss", "train_loss", "val_metric")


class EarlyStopping(Callback):
    """Stop when the monitored quantity stops improving, and go back to the best weights.

    "You should thus always monitor error on a validation set during training and stop (with some
    patience) if your validation error does not improve enough" (the survey, Sec. 6.5). After each
    epoch the monitored value counts as an improvement if it beats the best so far by more than
    ``min_delta`` (lower for ``mode="min"``, higher for ``"max"``; NaN never improves). After
    ``patience`` epochs in a row without one, training stops; with ``restore_best`` the model gets back
    the weights of the best epoch (a copy of its ``state_dict`` taken then). The reason lands in
    ``History.stop_reason``; ``best``, ``best_epoch`` and ``stopped_epoch`` stay on this object.

    Args:
        monitor: ``"val_loss"`` (default), ``"train_loss"`` or ``"val_metric"``.
        patience: epochs without improvement before stopping, >= 1.
        min_delta: the least change that counts as an improvement, >= 0.
        restore_best: restore the best epoch's weights on stopping.
        mode: ``"min"`` or ``"max"``; default ``"max"`` for ``val_metric`` (accuracy-like), else
            ``"min"``.

    Example:
        >>> import torch, sgdlab
        >>> X = torch.linspace(-1, 1, 64)[:, None]; y = 3 * X
        >>> model = torch.nn.Linear(1, 1)
        >>> stop = sgdlab.train.EarlyStopping(monitor="train_loss", patience=2, min_delta=1e-3)
        >>> h = sgdlab.train.fit(model, torch.nn.functional.mse_loss, (X, y),
        ...                      optimizer=sgdlab.optim.SGD(model.parameters(), lr=0.1),
        ...                      epochs=1000, early_stopping=stop, progress=False)
        >>> h.stopped_early, len(h) < 1000, stop.best_epoch < len(h)
        (True, True, True)
        >>> h.stop_reason.startswith("train_loss did not improve by more than 0.001 for 2 epochs")
        True
    """

    @validate(monitor=Options(*_MONITORS), patience=Int(1), min_delta=Real(0), restore_best=Bool(),
              mode=(Options("min", "max"), None))
    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best: bool = True, mode: str | None = None) -> None:
        if mode is None:
            mode = "max" if monitor == "val_metric" else "min"
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best = restore_best
        self.mode = mode
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_state: dict[str, Any] | None = None

    def on_train_begin(self, ctx: TrainContext) -> None:
        # One instance can serve several fits: each starts afresh.
        self._reset()
        if self.monitor.startswith("val_") and not ctx.has_val:
            raise ArgumentValueError(f"Invalid early_stopping: it monitors {self.monitor!r}, but fit got "
                                     "no val (expected val=(X, y), or EarlyStopping(monitor='train_loss'))")
        if self.monitor == "val_metric" and not ctx.has_metric:
            raise ArgumentValueError("Invalid early_stopping: it monitors 'val_metric', but fit got no "
                                     "metric (expected metric=...)")

    def _improved(self, value: float) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, ctx: TrainContext, record: dict[str, Any]) -> None:
        value = record[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = float(value), int(record["epoch"]), 0
            if self.restore_best:
                self.best_state = _snapshot(ctx.model)
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        self.stopped_epoch = int(record["epoch"])
        if self.best is None:
            reason = f"{self.monitor} was not finite for {self.patience} epochs"
        else:
            reason = (f"{self.monitor} did not improve by more than {self.min_delta} for "
                      f"{self.patience} epochs; best {self.best:.6g} at epoch {self.best_epoch}")
        if self.restore_best and self.best_state is not None:
            ctx.model.load_state_dict(self.best_state)
            reason += f"; restored the weights of epoch {self.best_epoch}"
        ctx.stop(reason)


def _snapshot(model: torch.nn.Module) -> dict[str, Any]:
    # clone: a compact copy of each tensor on its own, though a parameter may be a view into an
    # optimizer's flat buffer (sgdlab's engine) that later steps overwrite.
    return {k: v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)
            for k, v in model.state_dict().items()}
