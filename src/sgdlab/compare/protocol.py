"""The tuning protocols of ``sgdlab compare``: AlgoPerf's two rulesets and DeepOBS's learning-rate grid.

``--tuning external`` (the default; AlgoPerf's external-tuning ruleset, Dahl et al. 2023):
    per optimizer x problem, :data:`STUDIES` studies of K trials each (K = :data:`TRIALS`: 3 quick,
    5 full, AlgoPerf's number). Study ``s`` draws its K points from the optimizer's search space
    (:mod:`sgdlab.compare.search`: the learning rate and the main hyper-parameters, chosen by their
    names) on its own scrambled Halton sequence, and trains each from seed ``s``. The problem's time
    for the optimizer is the median over the studies of each study's best trial: the one that reaches
    the validation target at the earliest evaluation (AlgoPerf's ``get_best_trial_index``).

``--tuning defaults`` (AlgoPerf's self-tuning ruleset):
    every optimizer at the defaults of its convention, learning rate included, one run per seed
    (:data:`DEFAULT_RUNS`: 3 quick, 5 full), with 1.5 times the budget's epochs
    (:data:`DEFAULTS_BUDGET`, rounded up) to make up for the tuning it does not get.

``--tuning lr-grid`` (DeepOBS, Schneider et al. 2019):
    one trial per learning rate of a log grid (quick: 1e-4 .. 1, one per decade; full: DeepOBS's
    36 values from 1e-5 to 1e2) with seed 0, the other hyper-parameters at their defaults; the one
    with the best final validation metric (:func:`select_best`) is rerun with seeds 1 .. N-1 (N = 2
    quick, 10 full).

The baseline (:mod:`sgdlab.compare.baseline`) is tuned by the same ruleset as every optimizer.

A trial is identified by :class:`TrialSpec`: the problem's fingerprint (its data and definition,
not its name), the optimizer, every hyper-parameter, the seed and the budget. Its
:attr:`~TrialSpec.key` is what the results store keys on, so a trial is run once whichever
comparison asks for it; :class:`Planned` adds what the asking run calls it (ruleset, study, trial
number, phase).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import Options, Seq, check
from ..problems.base import MODES, Budget
from . import baseline
from .search import search_space

TUNINGS = ("external", "defaults", "lr-grid")
#: ``--tuning external``: studies per optimizer x problem, and trials per study by mode. Quick's 3
#: is a budget: 20 optimizers (``sgdlab.optim.QUICK`` and the baseline) x 9 problems x 3 studies x 3
#: trials is 1,620 trials, about 300 s of two workers at the 0.37 s a quick trial takes on the
#: development machine, which keeps ``sgdlab compare --quick`` under 10 minutes there. Full's is
#: AlgoPerf's.
STUDIES = 3
TRIALS = {"quick": 3, "full": 5}
#: ``--tuning defaults``: runs (seeds) per optimizer x problem by mode, and the budget's factor.
DEFAULT_RUNS = {"quick": 3, "full": 5}
DEFAULTS_BUDGET = 1.5
#: ``--tuning lr-grid``: DeepOBS's learning-rate grid, 36 log-spaced values from 1e-5 to 1e2 (``--full``).
FULL_GRID: tuple[float, ...] = tuple(float(f"{x:.6g}") for x in np.logspace(-5, 2, 36))
#: The quick grid: one value per decade from 1e-4 to 1.
QUICK_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: ``--tuning lr-grid``: seeds at the selected learning rate.
QUICK_SEEDS = 2
FULL_SEEDS = 10
#: The optimizer groups ``--optimizers`` takes (issue 14a's contract), besides names.
GROUPS = ("quick", "survey", "modern", "all")


def grid(mode: str) -> tuple[float, ...]:
    """The learning-rate grid of ``--tuning lr-grid`` in ``mode`` (``"quick"`` or ``"full"``)."""
    return QUICK_GRID if check("mode", mode, Options(*MODES)) == "quick" else FULL_GRID


def default_seeds(mode: str, tuning: str = "lr-grid") -> int:
    """Seeds per optimizer x problem: studies (external), runs (defaults), or seeds at the selected
    learning rate (lr-grid)."""
    mode = check("mode", mode, Options(*MODES))
    tuning = check("tuning", tuning, Options(*TUNINGS))
    if tuning == "external":
        return STUDIES
    if tuning == "defaults":
        return DEFAULT_RUNS[mode]
    return QUICK_SEEDS if mode == "quick" else FULL_SEEDS


def default_trials(mode: str) -> int:
    """Trials per study of ``--tuning external``."""
    return TRIALS[check("mode", mode, Options(*MODES))]


def optimizer_group(name: str) -> tuple[str, ...]:
    """The optimizers of a group: ``quick`` (``sgdlab.optim.QUICK``, what ``--quick`` runs by
    default), ``survey``, ``modern``, ``all`` (``sgdlab.optim.available(group)``)."""
    from .. import optim

    name = check("optimizers", name, Options(*GROUPS))
    return tuple(optim.QUICK) if name == "quick" else tuple(optim.available(name))


def select_optimizers(selection: str | Sequence[str]) -> tuple[str, ...]:
    """``"quick"``, ``"survey"``, ``"modern"``, ``"all"``, or a list of names and groups, as a tuple of
    names (each once, in the order given; every name checked; ``"baseline"`` is accepted, and runs in
    every comparison anyway)."""
    from .. import optim

    items = [selection] if isinstance(selection, str) else selection
    items = check("optimizers", items, Seq(Options(*GROUPS, *optim.available(), baseline.BASELINE), min_length=1))
    names: list[str] = []
    for item in items:
        names += optimizer_group(item) if item in GROUPS else [item]
    return tuple(dict.fromkeys(names))


def effective_convention(optimizer: str, convention: str) -> str:
    """The convention ``optimizer`` runs under: ``convention`` where it has one, else ``"paper"``
    (QHM, QHAdam and AggMo have only their papers'); the baseline's is torch's."""
    from .. import optim

    if optimizer == baseline.BASELINE:
        return "torch"
    return convention if convention in optim.get(optimizer).DEFAULTS else "paper"


def optimizer_defaults(optimizer: str, convention: str) -> dict[str, Any]:
    """Every hyper-parameter of ``optimizer`` at its default under ``convention``, in declaration
    order (the baseline: :data:`sgdlab.compare.baseline.DEFAULTS`)."""
    from .. import optim

    if optimizer == baseline.BASELINE:
        return dict(baseline.DEFAULTS)
    cls = optim.get(optimizer)
    defaults = cls.DEFAULTS[effective_convention(optimizer, convention)]
    return {a.name: defaults[a.name] for a in cls.ARGS if a.name in defaults}


def _plain(value: Any) -> Any:
    """A hyper-parameter value in a stable, hashable form: floats to 10 significant digits (so that
    1e-3 computed two ways is one trial), sequences as tuples."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.10g}")
    return value


@dataclass(frozen=True)
class TrialSpec:
    """One training run: ``optimizer`` (an ``sgdlab.optim`` name, or the baseline) with the
    hyper-parameters ``hparams`` (all of them, as (name, value) pairs) under ``convention``, on the
    problem ``problem`` whose fingerprint is ``problem_key``, from ``seed``, for ``epochs`` epochs of
    ``batch_size``."""

    problem: str
    problem_key: str
    optimizer: str
    hparams: tuple[tuple[str, Any], ...]
    seed: int
    epochs: int
    batch_size: int | None
    convention: str = "paper"

    @classmethod
    def make(cls, problem: str, problem_key: str, optimizer: str, hparams: Mapping[str, Any], seed: int,
             budget: Budget, convention: str = "paper") -> TrialSpec:
        return cls(problem, problem_key, optimizer, tuple((k, _plain(v)) for k, v in hparams.items()), int(seed),
                   int(budget.epochs), budget.batch_size, convention)

    @property
    def params(self) -> dict[str, Any]:
        """The hyper-parameters as a dict (sequences as tuples)."""
        return dict(self.hparams)

    @property
    def lr(self) -> float | None:
        return self.params.get("lr")

    @property
    def key(self) -> str:
        """A stable identity: the same trial asked for by different runs (or under another name of
        the same problem) has the same key."""
        ident = {"problem_key": self.problem_key, "optimizer": self.optimizer,
                 "hparams": sorted([k, v] for k, v in self.hparams), "seed": self.seed, "epochs": self.epochs,
                 "batch_size": self.batch_size, "convention": self.convention}
        text = json.dumps(ident, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Planned:
    """A trial as one run of the protocol asks for it: its :class:`TrialSpec` and what the run calls it
    (``tuning``: the ruleset; ``phase``: ``"tune"``, ``"rerun"``, ``"run"`` or ``"calibrate"``;
    ``study`` and ``trial``: its study and its number in the study, where the ruleset has them)."""

    spec: TrialSpec
    tuning: str
    phase: str
    study: int | None = None
    trial: int | None = None

    def labels(self) -> dict[str, Any]:
        """The fields of a record that say what this run calls the trial."""
        return {"problem": self.spec.problem, "tuning": self.tuning, "phase": self.phase,
                "study": self.study, "trial": self.trial}


def external_plan(problem: str, problem_key: str, optimizer: str, convention: str, budget: Budget,
                  studies: int, trials: int) -> list[Planned]:
    """The trials of ``--tuning external`` for one optimizer x problem: ``studies`` x ``trials``,
    study ``s`` from seed ``s`` at its quasirandom points of the optimizer's search space."""
    conv = effective_convention(optimizer, convention)
    space = search_space(optimizer, optimizer_defaults(optimizer, convention))
    return [Planned(TrialSpec.make(problem, problem_key, optimizer, point, s, budget, conv), "external", "tune", s, k)
            for s in range(studies) for k, point in enumerate(space.points(trials, s))]


def defaults_budget(budget: Budget) -> Budget:
    """The budget of ``--tuning defaults``: 1.5 times the epochs, rounded up."""
    return Budget(math.ceil(DEFAULTS_BUDGET * budget.epochs), budget.batch_size)


def defaults_plan(problem: str, problem_key: str, optimizer: str, convention: str, budget: Budget,
                  runs: int) -> list[Planned]:
    """The trials of ``--tuning defaults`` for one optimizer x problem: the defaults, seeds 0 ..
    ``runs``-1, 1.5 times the budget."""
    conv = effective_convention(optimizer, convention)
    params = optimizer_defaults(optimizer, convention)
    return [Planned(TrialSpec.make(problem, problem_key, optimizer, params, s, defaults_budget(budget), conv),
                    "defaults", "run", s) for s in range(runs)]


def lr_grid_plan(problem: str, problem_key: str, optimizer: str, convention: str, budget: Budget,
                 lrs: Sequence[float], phase: str = "tune", tuning: str = "lr-grid") -> list[Planned]:
    """The tuning trials of ``--tuning lr-grid`` for one optimizer x problem: every learning rate,
    seed 0, the other hyper-parameters at their defaults."""
    conv = effective_convention(optimizer, convention)
    defaults = optimizer_defaults(optimizer, convention)
    return [Planned(TrialSpec.make(problem, problem_key, optimizer, {**defaults, "lr": float(lr)}, 0, budget, conv),
                    tuning, phase) for lr in lrs]


def rerun_plan(best: Planned, seeds: int) -> list[Planned]:
    """The reruns of the selected tuning trial with seeds 1 .. ``seeds``-1."""
    s = best.spec
    return [Planned(TrialSpec(s.problem, s.problem_key, s.optimizer, s.hparams, seed, s.epochs, s.batch_size,
                              s.convention), best.tuning, "rerun") for seed in range(1, seeds)]


def _score(record: Mapping[str, Any], higher_is_better: bool) -> float:
    """A number to maximise: the final validation metric, sign-adjusted; -inf when not finished."""
    value = record.get("final_val_metric")
    if record.get("status") != "ok" or value is None or not math.isfinite(value):
        return -math.inf
    return value if higher_is_better else -value


def _lr_of(record: Mapping[str, Any]) -> float:
    lr = (record.get("hparams") or {}).get("lr", record.get("lr"))
    return math.inf if lr is None else float(lr)


def select_best(records: Iterable[Mapping[str, Any]], higher_is_better: bool) -> Mapping[str, Any] | None:
    """The record with the best final validation metric (ties: the smaller learning rate, then the
    earlier trial); ``None`` when there are none. Records that diverged or failed rank below every
    finished one; when all did, the one with the smallest learning rate is returned (the least likely
    to diverge on a rerun)."""
    records = sorted(records, key=lambda r: (_lr_of(r), r.get("study") or 0, r.get("trial") or 0))
    if not records:
        return None
    return max(records, key=lambda r: _score(r, higher_is_better))
