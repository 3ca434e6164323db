"""The search spaces of ``sgdlab compare --tuning external``, chosen by each hyper-parameter's name.

An optimizer declares its hyper-parameters (``cls.ARGS``) and their defaults per convention
(``cls.DEFAULTS``); the rule of a hyper-parameter is looked up by its name in :data:`RULES`, so that
any optimizer that declares these names is searched without code of its own, and a hyper-parameter
without a rule keeps its default. Each rule scales with the default ``d`` of the optimizer's
convention (learning rates differ by orders of magnitude between methods) and samples
log-uniformly:

============  ============================================================  ==========================
name          searched over                                                 when
============  ============================================================  ==========================
lr            [d / 100, 100 d]: four decades around the default              d > 0
adamw_lr      as lr (Muon's rate for the parameters it gives to AdamW)       d > 0
momentum      1 - momentum in [(1 - d) / 10, min(1, 10 (1 - d))]            0 < d < 1
betas         each of beta1, beta2 as momentum                              a pair (beta1, beta2)
weight_decay  [d / 10, 10 d]; [1e-6, 1e-3] where the default is 0           d >= 0
eps           [d, 10^4 d]: from the default up (a larger eps moves an       d > 0
              adaptive method towards momentum SGD)
============  ============================================================  ==========================

A value whose default has another shape (a learning rate of ``None``, betas of three entries, an
entry of 0 such as AggMo's first beta) keeps its default. With Adam's defaults (lr 1e-3, betas
(0.9, 0.999), eps 1e-8, weight decay 0): lr in [1e-5, 0.1], beta1 in [0, 0.99], beta2 in [0.99,
0.9999], weight decay in [1e-6, 1e-3], eps in [1e-8, 1e-4].

:meth:`SearchSpace.points` draws the trials of one study: a scrambled Halton sequence
(``scipy.stats.qmc.Halton``, seeded by the study's number), one point of [0, 1)^D per trial mapped
through the rules, values rounded to 6 significant digits. Quasirandom points fill the space more
evenly than independent random ones (Bousquet et al. 2017; AlgoPerf's external-tuning ruleset
searches this way): the learning rate, the first coordinate, follows the base-2 van der Corput
sequence, so a study's first two trials lie in opposite halves of its four decades, the next two in
the remaining quarters, and so on; each study's scrambling shifts the points, so the three studies
of a comparison try different learning rates.

>>> space = search_space("adam", {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0})
>>> space.searched
('lr', 'betas', 'eps', 'weight_decay')
>>> [c.name for c in space.coordinates]
['lr', 'betas[0]', 'betas[1]', 'eps', 'weight_decay']
>>> print(space.coordinates[1].describe())
betas[0] in [0, 0.99] (1 - betas[0] log-uniform)
>>> points = space.points(4, study=0)
>>> len(points), sorted(points[0])
(4, ['betas', 'eps', 'lr', 'weight_decay'])
>>> points == space.points(4, study=0), points == space.points(4, study=1)
(True, False)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._validation import Instance, Int, check

#: The Halton sequence of study ``s`` is scrambled with the generator seeded by ``SEARCH_SEED + s``.
SEARCH_SEED = 20261202
#: Sampled values keep this many significant digits (a readable table, a stable trial key).
DIGITS = 6


@dataclass(frozen=True)
class Coordinate:
    """One searched number: ``hparam`` (or its entry ``index``) sampled log-uniformly from
    ``[low, high]``, or ``1 -`` such a value when ``complement`` (decay rates close to 1)."""

    hparam: str
    index: int | None
    low: float
    high: float
    complement: bool = False

    @property
    def name(self) -> str:
        return self.hparam if self.index is None else f"{self.hparam}[{self.index}]"

    def value(self, u: float) -> float:
        """The value at ``u`` in [0, 1)."""
        x = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return float(f"{(1.0 - x if self.complement else x):.{DIGITS}g}")

    def describe(self) -> str:
        """``lr in [1e-05, 0.1] (log-uniform)``; ``betas[0] in [0, 0.99] (1 - betas[0] log-uniform)``."""
        if self.complement:
            return f"{self.name} in [{1 - self.high:.4g}, {1 - self.low:.4g}] (1 - {self.name} log-uniform)"
        return f"{self.name} in [{self.low:.4g}, {self.high:.4g}] (log-uniform)"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _lr(d: Any, name: str = "lr") -> list[Coordinate]:
    return [Coordinate(name, None, d / 100, d * 100)] if _number(d) and d > 0 else []


def _adamw_lr(d: Any) -> list[Coordinate]:
    return _lr(d, "adamw_lr")


def _decay(name: str, index: int | None, d: Any) -> list[Coordinate]:
    if not (_number(d) and 0 < d < 1):
        return []
    gap = float(f"{1 - d:.12g}")  # 1 - 0.9 is 0.09999999999999998 in floats
    return [Coordinate(name, index, gap / 10, min(1.0, gap * 10), complement=True)]


def _momentum(d: Any) -> list[Coordinate]:
    return _decay("momentum", None, d)


def _betas(d: Any) -> list[Coordinate]:
    if not (isinstance(d, (tuple, list)) and len(d) == 2):
        return []
    return [c for i, b in enumerate(d) for c in _decay("betas", i, b)]


def _weight_decay(d: Any) -> list[Coordinate]:
    if not (_number(d) and d >= 0):
        return []
    return [Coordinate("weight_decay", None, d / 10, d * 10) if d > 0 else Coordinate("weight_decay", None, 1e-6, 1e-3)]


def _eps(d: Any) -> list[Coordinate]:
    return [Coordinate("eps", None, d, d * 1e4)] if _number(d) and d > 0 else []


#: hyper-parameter name -> the coordinates it contributes, from its default
RULES: dict[str, Callable[[Any], list[Coordinate]]] = {
    "lr": _lr, "momentum": _momentum, "betas": _betas, "weight_decay": _weight_decay, "eps": _eps,
    "adamw_lr": _adamw_lr,
}


@dataclass(frozen=True)
class SearchSpace:
    """The search space of one optimizer: its ``defaults`` (every hyper-parameter) and the
    ``coordinates`` the rules search; the others stay at their defaults."""

    optimizer: str
    defaults: Mapping[str, Any]
    coordinates: tuple[Coordinate, ...]

    @property
    def searched(self) -> tuple[str, ...]:
        """The names of the searched hyper-parameters, in declaration order."""
        return tuple(dict.fromkeys(c.hparam for c in self.coordinates))

    def points(self, n: int, study: int) -> list[dict[str, Any]]:
        """The hyper-parameters of the ``n`` trials of study ``study``: every hyper-parameter, the
        searched ones at the study's quasirandom points. Without a coordinate to search, the one
        point is the defaults (a study is then one trial)."""
        n = check("n", n, Int(1))
        study = check("study", study, Int(0))
        if not self.coordinates:
            return [dict(self.defaults)]
        from scipy.stats import qmc

        u = qmc.Halton(len(self.coordinates), scramble=True, rng=SEARCH_SEED + study).random(n)
        out = []
        for row in u:
            point = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.defaults.items()}
            for c, ui in zip(self.coordinates, row):
                if c.index is None:
                    point[c.hparam] = c.value(float(ui))
                else:
                    point[c.hparam][c.index] = c.value(float(ui))
            out.append({k: (tuple(v) if isinstance(v, list) else v) for k, v in point.items()})
        return out

    def describe(self) -> str:
        """One line: the ranges searched, then what stays at its default."""
        kept = [k for k in self.defaults if k not in self.searched]
        text = "; ".join(c.describe() for c in self.coordinates) or "nothing to search"
        return text + (f"; at the default: {', '.join(kept)}" if kept else "")


def search_space(optimizer: str, defaults: Mapping[str, Any]) -> SearchSpace:
    """The search space of ``optimizer`` whose hyper-parameters default to ``defaults`` (in
    declaration order): the :data:`RULES` of their names."""
    check("optimizer", optimizer, Instance(str, what="an optimizer name"))
    check("defaults", defaults, Instance(Mapping, what="a dict {hyper-parameter: default}"))
    coords = [c for name, d in defaults.items() if name in RULES for c in RULES[name](d)]
    return SearchSpace(optimizer, dict(defaults), tuple(coords))

