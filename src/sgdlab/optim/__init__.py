"""Every optimizer of Ruder's survey, and today's contenders, as drop-in ``torch.optim.Optimizer``s.

>>> import torch, sgdlab
>>> model = torch.nn.Linear(4, 1)
>>> opt = sgdlab.optim.create("adam", model.parameters(), lr=1e-3)
>>> type(opt).__name__
'Adam'
>>> sgdlab.optim.available()[:4]
['sgd', 'momentum', 'nag', 'adagrad']
>>> sgdlab.optim.available("modern")[:4]
['adamw', 'radam', 'nadamw', 'lion']
"""

from __future__ import annotations

from typing import Any

from .._validation import Options, check
from ._engine import CONVENTIONS, FlatOptimizer, describe
from .adafactor import Adafactor
from .adam import AdaMax, Adam, AdamW, AdEMAMix, AMSGrad, Nadam, NAdamW, QHAdam, RAdam
from .adaptive import Adadelta, Adagrad, RMSprop
from .lion import Lion
from .lookahead import Lookahead
from .momentum import NAG, SGD, AggMo, Momentum, QHM
from .muon import Muon
from .noise import GradientNoise
from .schedulefree import ScheduleFreeAdamW, ScheduleFreeSGD, recompute_bn
from .soap import SOAP

#: The survey's order: gradient descent, momentum, adaptive rates, Adam and its family, then the
#: methods of its last update.
_SURVEY: tuple[type[FlatOptimizer], ...] = (
    SGD, Momentum, NAG, Adagrad, Adadelta, RMSprop, Adam, AdaMax, Nadam, AMSGrad, AdamW, QHM, QHAdam,
    AggMo,
)
#: Today's contenders, those of AlgoPerf and of the 2025-2026 comparisons: the elementwise ones, then
#: the matrix-aware ones (Adafactor, Muon, SOAP) in their own modules.
_MODERN: tuple[type[FlatOptimizer], ...] = (
    RAdam, NAdamW, Lion, ScheduleFreeSGD, ScheduleFreeAdamW, AdEMAMix,
    Adafactor, Muon, SOAP,  # the per-shape path, optim/matrix.py
)
_REGISTRY: dict[str, type[FlatOptimizer]] = {cls.NAME: cls for cls in _SURVEY + _MODERN}
_GROUPS: dict[str, tuple[str, ...]] = {
    "survey": tuple(cls.NAME for cls in _SURVEY),
    # AdamW (the survey's 4.10) is also the reference every modern comparison starts from.
    "modern": ("adamw", *(cls.NAME for cls in _MODERN)),
}

#: What ``sgdlab compare --quick`` runs by default: the survey's 14, then AlgoPerf's baseline (NAdamW)
#: and the modern contenders that lead the recent comparisons (those registered here).
QUICK: tuple[str, ...] = _GROUPS["survey"] + tuple(
    name for name in ("nadamw", "lion", "schedulefree_adamw", "ademamix", "muon") if name in _REGISTRY)


def available(group: str | None = None) -> list[str]:
    """The names :func:`create` accepts: ``None`` or ``"all"`` every one, ``"survey"`` the survey's
    14 in its order, ``"modern"`` today's contenders and AdamW.

    >>> available("survey")[-3:]
    ['qhm', 'qhadam', 'aggmo']
    >>> available("recent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    sgdlab._validation.ArgumentValueError: Invalid group: 'recent' (expected one of 'all', 'survey', 'modern' or None)
    """
    group = check("group", group, Options("all", *_GROUPS), None)
    return list(_REGISTRY if group in (None, "all") else _GROUPS[group])


def get(name: str) -> type[FlatOptimizer]:
    """The optimizer class called ``name`` (case-insensitive).

    >>> get("AdaMax").__name__
    'AdaMax'
    >>> get("schedulefree_adamw").__name__
    'ScheduleFreeAdamW'
    >>> get("adamx")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    sgdlab._validation.ArgumentValueError: Invalid name: 'adamx' (expected one of 'sgd', 'momentum', ...
    """
    return _REGISTRY[check("name", name, Options(*_REGISTRY))]


def create(name: str, params: Any, **hyper: Any) -> FlatOptimizer:
    """Build the optimizer called ``name`` over ``params``, e.g.
    ``create("nadam", model.parameters(), lr=2e-3, convention="torch")``."""
    return get(name)(params, **hyper)


__all__ = [
    "CONVENTIONS", "FlatOptimizer", "GradientNoise", "Lookahead", "QUICK", "available", "create", "describe",
    "get", "recompute_bn", *(cls.__name__ for cls in _SURVEY + _MODERN),
]
