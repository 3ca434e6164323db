"""What a benchmark problem is: data, model, loss, metric, budget and a train/val/test split.

A :class:`Problem` is a recipe; ``problem.build(seed)`` makes one :class:`Task` of it (a freshly
initialised model and the data). The data of a problem is the same for every seed (generated from the
problem's own fixed seed, or shipped); ``seed`` drives the model's initialisation and anything random
inside the loss (DeepOBS's noisy Beale), and the trainer uses it for the shuffling.

Your own model and data become a problem with :meth:`Problem.from_model`; :attr:`Problem.fingerprint`
identifies a problem by what it trains on (see :mod:`.fingerprint`), so that a results store never
mixes the trials of an edited problem with the old ones.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .._validation import Bool, Callable_, Constraint, Int, Options, Real, Seq, check

#: The budgets a problem has: short for ``sgdlab compare --quick``, long for ``--full``.
MODES = ("quick", "full")
#: ``Problem.from_model``: the full budget's epochs per quick epoch (the built-in problems' ratio).
FULL_OVER_QUICK = 5
#: ``Problem.from_model``'s batch size when neither it nor a DataLoader gives one.
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class Budget:
    """How long one trial trains: ``epochs`` passes over the training split in mini-batches of
    ``batch_size`` examples (``None``: the whole split, batch gradient descent)."""

    epochs: int
    batch_size: int | None


@dataclass
class Task:
    """One built instance of a problem: a fresh model, its loss and the three splits.

    ``train``, ``val`` and ``test`` are data in any form ``sgdlab.train.fit`` takes (``(X, y)`` of
    tensors, NumPy arrays or a ``scipy.sparse`` X; a map-style Dataset; a DataLoader); ``test`` may be
    ``None`` (the final metric is then the validation one). ``loss_fn(model(X), y)`` is the mean loss
    of a batch. ``metric_fn(model(X), y)`` is the mean of the problem's metric over the batch (e.g.
    accuracy); ``None`` when the problem's metric is the loss itself.
    """

    model: torch.nn.Module
    loss_fn: Callable[[Any, Any], torch.Tensor]
    train: Any
    val: Any
    test: Any
    metric_fn: Callable[[Any, Any], Any] | None = None


@dataclass(frozen=True)
class Problem:
    """A benchmark problem.

    Attributes:
        name: the registry name (``"quadratic_deep"``).
        title: one line for tables and plots.
        description: a paragraph for the report: what it is, where it comes from.
        metric: the name of the reported metric: ``"loss"``, ``"accuracy"``, ...
        higher_is_better: ``True`` for accuracy, ``False`` for a loss.
        target: the metric value a run must reach (on the validation split) to count as "reached"
            (DeepOBS's speed, AlgoPerf's time-to-target); ``None``: ``sgdlab compare`` calibrates one
            (see :mod:`sgdlab.problems.calibrate`).
        quick: the budget of ``sgdlab compare --quick``.
        full: the budget of ``sgdlab compare --full`` (DeepOBS's where DeepOBS has the problem).
        builder: ``builder(seed) -> Task``.
        tags: free-form labels, e.g. ``("sparse",)``, ``("batch_norm",)``.
        source: how another process gets this problem again: the spec it was loaded from
            (``"libsvm:PATH"``, ``"FILE.py:ATTR"``, ``"MODULE:ATTR"``; see :func:`sgdlab.problems.resolve`),
            ``None`` for a registered problem or one made in Python (which travels pickled).
        digest: a hash of the files the problem was read from (the LIBSVM file, the user's Python
            file), part of :attr:`fingerprint`.
        target_calibrated: the target was calibrated by ``sgdlab compare`` rather than given.
    """

    name: str
    title: str
    description: str
    metric: str
    higher_is_better: bool
    target: float | None
    quick: Budget
    full: Budget
    builder: Callable[[int], Task] = field(repr=False, compare=False)
    tags: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False)
    digest: str = field(default="", repr=False)
    target_calibrated: bool = False

    def build(self, seed: int = 0) -> Task:
        """A fresh :class:`Task` whose model is initialised from ``seed``."""
        return self.builder(seed)

    def budget(self, mode: str) -> Budget:
        """The budget of ``mode`` (``"quick"`` or ``"full"``)."""
        return self.quick if check("mode", mode, Options(*MODES)) == "quick" else self.full

    def reached(self, value: float | None) -> bool:
        """Whether a metric value reaches the target (``None``/NaN never does, nor does any value
        while the problem has no target)."""
        if value is None or value != value or self.target is None:
            return False
        return value >= self.target if self.higher_is_better else value <= self.target

    @functools.cached_property
    def fingerprint(self) -> str:
        """A hash of what this problem trains on: the data of its splits, its model (architecture,
        the code of its classes, the initial parameters of seed 0), the code of its loss and metric
        functions, and :attr:`digest` (see :func:`sgdlab.problems.fingerprint.fingerprint`). Computed
        once, by building the problem with seed 0."""
        from .fingerprint import fingerprint

        return fingerprint(self)

    @classmethod
    def from_model(cls, model_fn: Callable[[], torch.nn.Module], loss_fn: Callable[[Any, Any], Any], train: Any,
                   val: Any, test: Any = None, metric: Callable[[Any, Any], Any] | None = None,
                   target: float | None = None, *, epochs: int = 10, batch_size: int | str | None = "auto",
                   name: str | None = None, title: str | None = None, description: str | None = None,
                   metric_name: str | None = None, higher_is_better: bool | None = None,
                   full_epochs: int | None = None, tags: tuple[str, ...] = ()) -> Problem:
        """Your own model and data as a problem of ``sgdlab compare``.

        Args:
            model_fn: ``model_fn()`` -> a fresh ``torch.nn.Module``; called with torch's random
                generator seeded by the trial's seed, so each seed has its own initialisation.
            loss_fn: ``loss_fn(model(X), y)`` -> the batch's mean loss (a scalar tensor).
            train, val, test: the splits, in any form ``sgdlab.train.fit`` takes: ``(X, y)`` of tensors,
                NumPy arrays or a ``scipy.sparse`` X, a map-style Dataset, a DataLoader (its dataset
                and collate_fn are used; fit batches and shuffles). ``test=None``: the final metric
                reported is the validation one.
            metric: ``metric(model(X), y)`` -> the batch's mean metric (accuracy, ...); ``None``: the
                metric is the validation loss.
            target: the validation metric a run must reach to count as having solved the problem
                (time to target); ``None``: ``sgdlab compare`` calibrates one the way the built-in
                problems' were (:mod:`sgdlab.problems.calibrate`) and the report says so.
            epochs: the quick budget's epochs; ``full_epochs`` (default ``5 * epochs``) the full one's.
            batch_size: the mini-batch size (``None``: full batch); ``"auto"``: ``train``'s own when it
                is a DataLoader, else 64.
            name, title, description: how the report names and describes it (default: from
                ``model_fn``'s name).
            metric_name: the metric's name (default: ``metric.__name__``, or ``"loss"``).
            higher_is_better: the metric's direction (default: ``True`` with a ``metric``, ``False``
                for the loss).
            tags: free-form labels (``("sparse",)`` puts it among the sparse problems).

        The builder keeps references to ``model_fn``, ``loss_fn``, ``metric`` and the data; to train
        in worker processes the problem is pickled, so these must be picklable (module-level functions,
        data arrays or datasets), or use ``jobs=1``. Problems loaded from a file by ``sgdlab compare
        --problem FILE.py:ATTR`` are imported again by each worker instead.

        Example:
            >>> import torch
            >>> from sgdlab.compare import Problem
            >>> g = torch.Generator().manual_seed(0)
            >>> X = torch.randn(120, 5, generator=g); y = X @ torch.ones(5, 1)
            >>> def linear():
            ...     return torch.nn.Linear(5, 1)
            >>> p = Problem.from_model(linear, torch.nn.functional.mse_loss, (X[:80], y[:80]), (X[80:], y[80:]),
            ...                        target=0.05, epochs=4, batch_size=16)
            >>> p.name, p.metric, p.higher_is_better, p.quick, p.full
            ('linear', 'loss', False, Budget(epochs=4, batch_size=16), Budget(epochs=20, batch_size=16))
            >>> len(p.fingerprint)
            20
        """
        from ..train._data import Data

        check("model_fn", model_fn, Callable_())
        check("loss_fn", loss_fn, Callable_())
        check("metric", metric, Callable_(), None)
        target = check("target", target, Real(), None)
        epochs = check("epochs", epochs, Int(1))
        full_epochs = check("full_epochs", FULL_OVER_QUICK * epochs if full_epochs is None else full_epochs, Int(1))
        batch_size = check("batch_size", batch_size, Int(1), Options("auto"), None)
        higher_is_better = check("higher_is_better", metric is not None if higher_is_better is None
                                 else higher_is_better, Bool())
        tags = check("tags", tuple(tags) if isinstance(tags, list) else tags, Seq(_NAME))
        for part, data in (("train", train), ("val", val), ("test", test)):
            if data is not None or part != "test":
                Data(data, part)  # the same checks fit makes, now rather than in every trial
        if batch_size == "auto":
            batch_size = getattr(train, "batch_size", None) if isinstance(train, torch.utils.data.DataLoader) \
                else DEFAULT_BATCH_SIZE
        name = check("name", name if name is not None else _name_of(model_fn), _NAME)
        metric_name = check("metric_name", metric_name if metric_name is not None
                            else getattr(metric, "__name__", "metric") if metric is not None else "loss", _NAME)
        budget = "full batch" if batch_size is None else f"batches of {batch_size}"
        where = "validation and test" if test is not None else "validation (no test split: the final metric is on it)"
        return cls(
            name=name, title=title or f"Your model: {name}",
            description=description or (
                f"{name}: your model and data ({_size(train)} training examples, {budget}), its loss and "
                f"its {metric_name} on {where}."),
            metric=metric_name, higher_is_better=higher_is_better, target=target,
            quick=Budget(epochs, batch_size), full=Budget(full_epochs, batch_size),
            builder=ModelTask(model_fn, loss_fn, train, val, test, metric), tags=tuple(tags))


class _Name(Constraint):
    """A non-empty string (a problem's name, a label)."""

    def accepts_type(self, value: Any) -> bool:
        return isinstance(value, str)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and bool(value.strip())

    def __str__(self) -> str:
        return "a non-empty string"


_NAME = _Name()


def _name_of(fn: Any) -> str:
    name = getattr(fn, "__name__", "") or type(fn).__name__
    return "my_model" if name == "<lambda>" else name


def _size(data: Any) -> str:
    try:
        n = len(data[1]) if isinstance(data, (tuple, list)) else len(getattr(data, "dataset", data))
    except TypeError:
        return "?"
    return f"{n:,}"


class ModelTask:
    """The builder of :meth:`Problem.from_model`: ``ModelTask(...)(seed)`` is a :class:`Task` with a
    model made by ``model_fn()`` under torch's generator seeded by ``seed`` (the caller's generator is
    left as it was). A class rather than a closure, so that it pickles whenever its parts do."""

    def __init__(self, model_fn: Callable[[], torch.nn.Module], loss_fn: Callable[[Any, Any], Any], train: Any,
                 val: Any, test: Any, metric: Callable[[Any, Any], Any] | None) -> None:
        self.model_fn, self.loss_fn, self.metric = model_fn, loss_fn, metric
        self.train, self.val, self.test = train, val, test

    def __call__(self, seed: int) -> Task:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self.model_fn()
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model_fn returned {type(model).__name__}, not a torch.nn.Module")
        return Task(model=model, loss_fn=self.loss_fn, train=self.train, val=self.val, test=self.test,
                    metric_fn=self.metric)

    def __repr__(self) -> str:
        return f"ModelTask({_name_of(self.model_fn)})"


def finite_target(target: float | None) -> bool:
    """Whether ``target`` is a number a metric can reach (not ``None``, not NaN)."""
    return target is not None and not math.isnan(target)
