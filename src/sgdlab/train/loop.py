"""``fit``: the training loop of the survey's three gradient descent variants (Sec. 2)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from .. import optim as _optim
from .._validation import (ArgumentTypeError, ArgumentValueError, Bool, Callable_, Constraint, Instance, Int,
                           Options, Real, Seq, argument_error, check, validate)
from ._data import Data
from .callbacks import Callback, EarlyStopping, TrainContext
from .curriculum import Curriculum
from .history import History

#: Examples per forward pass where ``fit`` goes through a whole data set at once: the gradient of
#: batch gradient descent (``batch_size=None``) and the validation loss. Bounds the memory.
CHUNK_SIZE = 1024
#: With an optimizer that evaluates elsewhere than it trains (Schedule-Free, Lookahead), the
#: training examples over which ``fit`` recomputes batch norm's statistics at the evaluation point
#: after each epoch: the first of the epoch's order, in chunks of ``CHUNK_SIZE``.
BN_RECOMPUTE_EXAMPLES = 8 * CHUNK_SIZE


@validate(model=Instance(torch.nn.Module, what="a torch.nn.Module"), loss_fn=Callable_(), epochs=Int(1),
          batch_size=(Int(1), None), shuffle=Bool(), seed=Int(), progress=Bool(),
          grad_clip=(Real(0, closed="neither"), None), metric=(Callable_(), None),
          early_stopping=(Instance(EarlyStopping, what="a sgdlab.train.EarlyStopping"), None),
          curriculum=(Instance(Curriculum, what="a sgdlab.train.Curriculum"), None))
def fit(
    model: torch.nn.Module,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    train: Any,
    *,
    optimizer: Optimizer | str,
    epochs: int,
    batch_size: int | None = 32,
    shuffle: bool = True,
    val: Any = None,
    scheduler: Any = None,
    early_stopping: EarlyStopping | None = None,
    curriculum: Curriculum | None = None,
    callbacks: Sequence[Callback | Callable[..., Any]] = (),
    seed: int = 0,
    progress: bool = True,
    grad_clip: float | None = None,
    metric: Callable[[Any, Any], Any] | None = None,
) -> History:
    """Train ``model`` by gradient descent on ``loss_fn`` and return its :class:`History`.

    The three variants of the survey (Sec. 2) are ``batch_size``:

    * ``None``: batch gradient descent, one update per epoch with the gradient of the mean loss over
      the whole training set. It is accumulated over chunks of ``CHUNK_SIZE`` (1024) examples, each
      chunk's loss weighted by its share of the data, so memory stays one chunk's worth.
    * ``1``: stochastic gradient descent, one update per example.
    * ``n``: mini-batch gradient descent, one update per ``n`` examples (the last batch of an epoch
      has the rest).

    Each epoch: train (the examples reshuffled every epoch, reproducibly from ``seed``, unless
    ``shuffle=False`` or a ``curriculum`` orders them), then evaluate ``val`` (in eval mode, without
    gradients), step the ``scheduler``, record the epoch in the History, run the callbacks, and let
    ``early_stopping`` decide.

    An optimizer that keeps the parameters at a training point and an evaluation point (it has
    ``train()`` and ``eval()``: Schedule-Free's y and x, Lookahead's fast and slow weights) is put in
    train mode before each epoch's training and in eval mode after it, before the evaluation; ``fit``
    returns with it in eval mode, the model at the evaluation point. A model with batch norm then has
    its running statistics recomputed at that point (``sgdlab.optim.recompute_bn``), over the first
    ``BN_RECOMPUTE_EXAMPLES`` (8192) training examples of the epoch.

    Args:
        model: a ``torch.nn.Module``; batches are moved to the device of its first parameter.
        loss_fn: ``loss_fn(model(xb), yb)`` -> the *mean* loss over the batch (a 0-d tensor), as
            torch's losses with their default ``reduction="mean"``.
        train: ``(X, y)`` with X and y tensors or NumPy arrays (floating arrays become the default
            dtype, integer ones int64), or X a ``scipy.sparse`` matrix (each batch's rows are sliced
            from CSR and densified: the model gets a dense tensor, and memory holds one dense batch);
            or a map-style ``torch.utils.data.Dataset`` of ``(x, y)`` items (collated with
            ``default_collate``), or a ``DataLoader`` over one (its dataset and ``collate_fn`` are
            used; ``fit``'s own ``batch_size``, ``shuffle`` and ``seed`` decide the batches, so runs
            reproduce; a sampler ``fit`` cannot reproduce is refused).
        optimizer: an optimizer over the model's parameters (any ``torch.optim.Optimizer``, an sgdlab
            one, a ``GradientNoise``-wrapped one), or a name of ``sgdlab.optim.available()``, built
            as ``sgdlab.optim.create(name, model.parameters())`` with its defaults.
        epochs: the number of passes over the data, >= 1.
        batch_size: ``None`` (batch), ``1`` (stochastic) or n >= 1 (mini-batch).
        shuffle: reshuffle the training examples every epoch (``False`` keeps their order).
        val: validation data, of the same kinds as ``train``.
        scheduler: a ``torch.optim.lr_scheduler`` scheduler (e.g. :class:`InverseTimeDecay`), or a
            callable ``scheduler(optimizer)`` returning one (for an optimizer given by name). It is
            stepped once per epoch, after validation; a ``ReduceLROnPlateau`` gets the validation
            loss (the training loss without ``val``): the survey's annealing "when the change in
            objective between epochs falls below a threshold".
        early_stopping: an :class:`EarlyStopping`.
        curriculum: a :class:`Curriculum` giving each epoch's examples and order (instead of
            shuffling).
        callbacks: :class:`Callback` objects, or functions called as ``fn(ctx, record)`` after every
            epoch.
        seed: seeds the ``numpy.random.Generator`` that shuffles the data and draws the curriculum,
            and nothing else (the model's initialisation, dropout and gradient noise have their own
            generators).
        progress: show a progress bar (rich) with the loss and the time left; only when stdout is a
            terminal.
        grad_clip: clip the global 2-norm of the model parameters' gradients to this value before
            every step (``torch.nn.utils.clip_grad_norm_``). With ``GradientNoise`` the noise is added
            after clipping, inside its ``step``.
        metric: ``metric(outputs, y)`` -> a number, e.g. accuracy, on ``val`` after every epoch. It is
            evaluated per chunk of ``CHUNK_SIZE`` examples and averaged weighted by the chunk sizes,
            so it must be a mean over examples (accuracy, MSE; not AUC: compute such ones in a
            callback). Needs ``val``.

    Returns:
        The :class:`History`, one record per epoch.

    Raises:
        FloatingPointError: when a training loss is not finite, naming the epoch and the batch.

    Example:
        >>> import torch, sgdlab
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.randn(200, 3, generator=g); y = X @ torch.tensor([[1.0], [-2.0], [0.5]])
        >>> model = torch.nn.Linear(3, 1)
        >>> h = sgdlab.train.fit(model, torch.nn.functional.mse_loss, (X, y),
        ...                      optimizer=sgdlab.optim.SGD(model.parameters(), lr=0.1),
        ...                      epochs=20, batch_size=20, progress=False)
        >>> len(h), h.updates[0], h.train_loss[-1] < 1e-3
        (20, 10, True)
    """
    data = Data(train, "train")
    val_data = Data(val, "val") if val is not None else None
    if metric is not None and val_data is None:
        raise argument_error("metric", metric, "None without val: the metric is evaluated on the "
                             "validation data")
    if curriculum is not None:
        curriculum.bind(*data.original)

    optimizer = _make_optimizer(optimizer, model)
    two_points = callable(getattr(optimizer, "train", None)) and callable(getattr(optimizer, "eval", None))
    batch_norm = two_points and _optim.schedulefree.has_batch_norm(model)
    if scheduler is not None and (isinstance(scheduler, type) or not hasattr(scheduler, "step")):
        # A factory (a function, a partial, a scheduler class): built on the optimizer made here.
        check("scheduler", scheduler, Callable_())
        scheduler = scheduler(optimizer)
    hooks = _callbacks(callbacks, early_stopping)

    params = [p for p in model.parameters()]
    device = params[0].device if params else None
    rng = np.random.default_rng(seed)
    history = History()
    ctx = TrainContext(model=model, optimizer=optimizer, loss_fn=loss_fn, scheduler=scheduler,
                       history=history, epochs=epochs, has_val=val_data is not None,
                       has_metric=metric is not None)
    was_training = model.training
    bar = _Progress(epochs) if progress and _isatty() else None
    try:
        for cb in hooks:
            _call(cb, "on_train_begin", ctx)
        for epoch in range(epochs):
            ctx.epoch, ctx.batch = epoch + 1, 0
            start = time.perf_counter()
            lr = _lr(optimizer)
            for cb in hooks:
                _call(cb, "on_epoch_begin", ctx)

            if curriculum is not None:
                order = curriculum.order(epoch, epochs, len(data), rng)
            elif shuffle and batch_size is not None:
                order = rng.permutation(len(data))
            else:  # the full-batch gradient does not depend on the order
                order = np.arange(len(data))
            if batch_size is None:
                batches = [order]
            else:
                batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]

            model.train()
            if two_points:
                optimizer.train()
            if bar is not None:
                bar.start_epoch(epoch + 1, len(batches))
            loss_sum, seen, updates = 0.0, 0, 0
            for b, idx in enumerate(batches, start=1):
                ctx.batch, ctx.batch_indices = b, idx
                optimizer.zero_grad()
                if batch_size is None:
                    loss = _full_batch_backward(model, loss_fn, data, idx, device, epoch + 1)
                else:
                    xb, yb = data.batch(idx, device)
                    out = _forward_loss(model, loss_fn, xb, yb)
                    loss = _finite(out, epoch + 1, b, len(batches))
                    out.backward()
                if grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
                optimizer.step()
                updates += 1
                loss_sum += loss * len(idx)
                seen += len(idx)
                for cb in hooks:
                    _call(cb, "on_batch_end", ctx, loss)
                if bar is not None:
                    bar.advance(loss_sum / seen)
            train_loss = loss_sum / seen
            if two_points:
                optimizer.eval()
                if batch_norm:
                    _recompute_batch_norm(model, data, order, device)

            val_loss = val_metric = None
            if val_data is not None:
                val_loss, val_metric = evaluate(model, loss_fn, val_data, metric, device)
            model.train()

            if scheduler is not None:
                if isinstance(scheduler, ReduceLROnPlateau):
                    scheduler.step(val_loss if val_loss is not None else train_loss)
                else:
                    scheduler.step()

            record = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
                      "val_metric": val_metric, "lr": lr, "time": time.perf_counter() - start,
                      "updates": updates}
            history.append(record)
            for cb in hooks:
                _call(cb, "on_epoch_end", ctx, record)
            if bar is not None:
                bar.end_epoch(record)
            if ctx.stop_requested:
                history.stopped_early = True
                history.stop_reason = ctx.stop_reason
                break
        for cb in hooks:
            _call(cb, "on_train_end", ctx)
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    return history


@torch.no_grad()
@validate(model=Instance(torch.nn.Module, what="a torch.nn.Module"), loss_fn=Callable_(),
          metric=(Callable_(), None))
def evaluate(model: torch.nn.Module, loss_fn: Callable[[Any, Any], Any], data: Any,
             metric: Callable[[Any, Any], Any] | None = None,
             device: torch.device | None = None) -> tuple[float, float | None]:
    """The mean loss (and ``metric``) of ``model`` over ``data`` (``(X, y)``, a Dataset or a
    prepared one), in eval mode, without gradients, in chunks of ``CHUNK_SIZE`` examples averaged
    weighted by their size. The model is left in eval mode. The optimizer is not touched: with
    Schedule-Free or Lookahead, call ``optimizer.eval()`` first to evaluate at their evaluation point
    (``fit`` leaves them there)."""
    data = data if isinstance(data, Data) else Data(data, "data")
    if device is None:
        p = next(iter(model.parameters()), None)
        device = p.device if p is not None else None
    model.eval()
    n = len(data)
    loss_sum, metric_sum = 0.0, 0.0
    for i in range(0, n, CHUNK_SIZE):
        idx = np.arange(i, min(n, i + CHUNK_SIZE))
        xb, yb = data.batch(idx, device)
        out = model(xb)
        loss_sum += float(loss_fn(out, yb)) * len(idx)
        if metric is not None:
            metric_sum += float(metric(out, yb)) * len(idx)
    return loss_sum / n, (metric_sum / n if metric is not None else None)


# ---- the pieces of an epoch --------------------------------------------------------------------------

def _forward_loss(model: torch.nn.Module, loss_fn: Callable[[Any, Any], Any], xb: Any, yb: Any) -> torch.Tensor:
    loss = loss_fn(model(xb), yb)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ArgumentValueError(f"Invalid loss_fn: it returned {got} (expected a scalar tensor: the "
                                 "batch's mean loss)")
    return loss.reshape(())


def _finite(loss: torch.Tensor, epoch: int, batch: int, batches: int, what: str = "batch") -> float:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise FloatingPointError(
            f"the training loss is {value} at epoch {epoch}, {what} {batch} of {batches}: training "
            "diverged or the data holds inf/NaN; try a lower learning rate or grad_clip")
    return value


def _full_batch_backward(model, loss_fn, data: Data, order: np.ndarray, device, epoch: int) -> float:
    """Accumulate the gradient of the mean loss over all of ``order``; return that loss."""
    n = len(order)
    chunks = [order[i:i + CHUNK_SIZE] for i in range(0, n, CHUNK_SIZE)]
    total = 0.0
    for c, idx in enumerate(chunks, start=1):
        xb, yb = data.batch(idx, device)
        loss = _forward_loss(model, loss_fn, xb, yb)
        # The chunk's mean times its share: the chunks' gradients sum to the full-batch mean's.
        share = len(idx) / n
        total += _finite(loss, epoch, c, len(chunks), what="chunk") * share
        (loss * share).backward()
    return total


def _recompute_batch_norm(model: torch.nn.Module, data: Data, order: np.ndarray, device) -> None:
    """Batch norm's running statistics at the evaluation point, over the epoch's first examples."""
    head = order[:BN_RECOMPUTE_EXAMPLES]
    chunks = (head[i:i + CHUNK_SIZE] for i in range(0, len(head), CHUNK_SIZE))
    _optim.schedulefree.batch_norm_statistics(model, (data.batch(idx, device)[0] for idx in chunks))


def _make_optimizer(optimizer: Any, model: torch.nn.Module) -> Optimizer:
    optimizer = check("optimizer", optimizer, Instance(Optimizer, what="a torch.optim.Optimizer"),
                      Options(*_optim.available()))
    return _optim.create(optimizer, model.parameters()) if isinstance(optimizer, str) else optimizer


def _callbacks(callbacks: Iterable[Any], early_stopping: EarlyStopping | None) -> list[Any]:
    if isinstance(callbacks, (Callback, str)) or callable(callbacks):
        raise ArgumentTypeError(f"Invalid callbacks: {callbacks!r} of type {type(callbacks).__name__} "
                                "(expected a sequence of callbacks: wrap a single one in a list)")
    hooks = list(check("callbacks", list(callbacks), Seq(_CALLBACK)))
    if early_stopping is not None:
        hooks.append(early_stopping)  # last: it sees what the other callbacks did to the epoch
    return hooks


class _AnyCallback(Constraint):
    """A :class:`Callback`, or a function called as ``fn(ctx, record)`` after every epoch."""

    def accepts_type(self, value: Any) -> bool:
        return isinstance(value, Callback) or callable(value)

    def __str__(self) -> str:
        return "a sgdlab.train.Callback or a function (ctx, record)"


_CALLBACK = _AnyCallback()
_HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end")


def _call(cb: Any, hook: str, ctx: TrainContext, *args: Any) -> None:
    if isinstance(cb, Callback) or any(hasattr(cb, h) for h in _HOOKS):
        method = getattr(cb, hook, None)
        if method is not None:
            method(ctx, *args)
    elif hook == "on_epoch_end":  # a plain function
        cb(ctx, *args)


def _lr(optimizer: Optimizer) -> float:
    lr = optimizer.param_groups[0].get("lr", math.nan) if optimizer.param_groups else math.nan
    return float(lr.item()) if isinstance(lr, torch.Tensor) else float(lr)


def _isatty() -> bool:
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


class _Progress:
    """Two rich bars: the epochs (with the last validation loss) and the batches of this epoch (with
    the running training loss), each with its ETA."""

    def __init__(self, epochs: int) -> None:
        # rich is imported only when a bar is shown.
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("eta"),
            TimeRemainingColumn(), console=Console(file=sys.stdout), transient=False)
        self.progress.start()
        self.epochs = self.progress.add_task("epochs", total=epochs, info="")
        self.batches = self.progress.add_task("batches", total=1, info="")

    def start_epoch(self, epoch: int, batches: int) -> None:
        self.progress.reset(self.batches, total=batches, description=f"epoch {epoch}", info="")

    def advance(self, loss: float) -> None:
        self.progress.update(self.batches, advance=1, info=f"loss {loss:.4g}")

    def end_epoch(self, record: dict[str, Any]) -> None:
        info = f"loss {record['train_loss']:.4g}"
        if record["val_loss"] is not None:
            info += f"  val {record['val_loss']:.4g}"
        if record["val_metric"] is not None:
            info += f"  metric {record['val_metric']:.4g}"
        self.progress.update(self.epochs, advance=1, info=info)

    def close(self) -> None:
        self.progress.stop()
