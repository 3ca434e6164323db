"""What ``sgdlab compare`` concludes from its trials: pure functions from trial records to numbers.

The records are the results store's dicts, one per trial, labelled by the run that asked for them
(``tuning``, ``phase``, ``study``, ``trial``: see :mod:`sgdlab.compare.protocol`); the problems are
:class:`~sgdlab.problems.base.Problem` objects. Per problem x optimizer (a *pair*), the trials form
*seeds* (:class:`Seed`): the studies of ``external``, the runs of ``defaults``, the reruns at the
selected learning rate of ``lr-grid``. Per seed:

* **time to target** (AlgoPerf, Dahl et al. 2023): among the seed's trials that reach the problem's
  validation target, the one that reaches it at the earliest evaluation (ties: the earlier trial;
  AlgoPerf's ``get_best_trial_index``); its cumulative optimizer steps at that evaluation, and its
  training seconds (evaluation not timed). ``inf`` when no trial of the seed reaches the target;
* **final metric**: the test metric of the seed's trial with the best final validation metric
  (:func:`sgdlab.compare.protocol.select_best`; with one trial per seed, that trial).

Per pair: the median over the seeds of the times (``inf`` counting as the slowest, so the median
is finite only when more than half the seeds reach the target: AlgoPerf's median over studies), the
mean and sample standard deviation of the final metric, and their bootstrap intervals over the seeds
(:mod:`sgdlab.compare.uncertainty`). The *best trial* (whose hyper-parameters the report shows and
whose curves it draws) is the one reaching the target in the fewest steps over all seeds (ties: the
better final validation metric), or, where none reaches it, the best by final validation metric.

Across pairs:

* **ranking** per problem by mean final metric: pairs whose seeds all finished first, then pairs
  with some seeds diverged or failed (their mean is over the survivors only, so it is flattering),
  then pairs with no finished seed;
* **AlgoPerf's performance profiles and scores** (:mod:`sgdlab.compare.scoring`) of the steps to target
  and of the seconds to target, each score with its bootstrap interval over problems and seeds;
* **speed-up over the baseline**: the geometric mean over problems of the baseline's steps over the
  optimizer's (never: the budget plus one), with its interval;
* **learning-rate sensitivity**: every tuning trial's final validation metric against its learning
  rate; for ``lr-grid``, also the number of decades of learning rate whose result is within
  ``rel_tol`` of the best result on the problem (see :func:`lr_sensitivity`);
* **divergence counts** per optimizer.

The verdict rests on the step-based score by default (``score_by="steps"``): steps to target,
metrics and everything computed from them are deterministic (the same command on the same machine
gives the same numbers), seconds are not. :mod:`sgdlab.compare.verdict` writes the text.

Example:
    >>> from sgdlab.problems.base import Budget, Problem
    >>> quad = Problem("quad", "Quadratic", "A quadratic.", "loss", False, 0.5, Budget(3, None),
    ...                Budget(3, None), builder=lambda seed: None)
    >>> def trial(opt, study, losses, lr=0.1):
    ...     history = [{"epoch": e + 1, "updates": 10 * (e + 1), "train_loss": v, "val_loss": v,
    ...                 "val_metric": v, "time": 0.1 * (e + 1)} for e, v in enumerate(losses)]
    ...     return {"key": f"{opt}{study}{lr}", "problem": "quad", "optimizer": opt, "hparams": {"lr": lr},
    ...             "lr": lr, "seed": study, "epochs": 3, "batch_size": None, "convention": "paper",
    ...             "tuning": "external", "phase": "tune", "study": study, "trial": 0, "status": "ok",
    ...             "error": None, "history": history, "final_val_metric": losses[-1],
    ...             "final_test_metric": losses[-1], "final_test_loss": losses[-1], "budget_steps": 30}
    >>> records = [trial("sgd", 0, [0.9, 0.6, 0.4]), trial("sgd", 1, [0.8, 0.45, 0.3]),
    ...            trial("adam", 0, [0.4, 0.2, 0.1]), trial("adam", 1, [0.6, 0.3, 0.2])]
    >>> a = analyze(records, [quad], draws=50)
    >>> [(s.optimizer, s.test_mean, s.steps) for s in a.rankings["quad"]]  # steps: medians of (10, 20), (30, 20)
    [('adam', 0.15000000000000002, 15.0), ('sgd', 0.35, 25.0)]
    >>> {s: round(v, 3) for s, v in a.profile.scores.items()}  # sgd: ratio 25/15; 77.5 of 99 grid steps, / 3
    {'adam': 1.0, 'sgd': 0.783}
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import ArgumentValueError, Instance, Int, Options, Real, argument_error, check
from ..problems.base import Problem
from . import uncertainty
from .baseline import BASELINE
from .protocol import select_best
from .scoring import R_MAX, PerformanceProfile, performance_profile, speedups

#: A tuning trial "works" when its final validation metric is within this fraction of the best
#: result on the problem (relative to the best value's magnitude); see :func:`lr_sensitivity`.
REL_TOL = 0.05
STATUSES = ("ok", "diverged", "error")
SCORE_BY = ("steps", "seconds")
_REQUIRED = ("problem", "optimizer", "seed", "epochs", "batch_size", "convention", "status", "history")


# ---------------------------------------------------------------------------------------------------
# Records and pairs


def _problem_map(problems: Iterable[Problem] | Mapping[str, Problem]) -> dict[str, Problem]:
    items = list(problems.values()) if isinstance(problems, Mapping) else list(problems)
    out: dict[str, Problem] = {}
    for i, p in enumerate(items):
        out[check(f"problems[{i}]", p, Instance(Problem, what="a sgdlab.problems.Problem")).name] = p
    return out


def _check_record(r: Mapping[str, Any]) -> None:
    missing = [k for k in _REQUIRED if k not in r]
    if missing:
        raise ArgumentValueError(f"Invalid records: record {r.get('key', '?')!r} lacks {', '.join(missing)} "
                                 "(expected the store's records)")
    if r["status"] not in STATUSES:
        raise ArgumentValueError(f"Invalid records: record {r.get('key', '?')!r} has the status {r['status']!r} "
                                 f"(expected one of {', '.join(map(repr, STATUSES))})")


def tuning_of(r: Mapping[str, Any]) -> str:
    """The ruleset a record was run under (``"lr-grid"`` for records without the label)."""
    return r.get("tuning") or "lr-grid"


def lr_of(r: Mapping[str, Any]) -> float | None:
    """A record's learning rate (``None``: an optimizer without one)."""
    lr = (r.get("hparams") or {}).get("lr", r.get("lr"))
    return None if lr is None else float(lr)


def group_pairs(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """The records by (problem, optimizer); a trial listed twice under the same labels counts once.

    >>> group_pairs([{"key": "a", "problem": "p", "optimizer": "adam", "seed": 0, "epochs": 1,
    ...               "batch_size": 8, "convention": "paper", "status": "ok", "history": []}]).keys()
    dict_keys([('p', 'adam')])
    """
    pairs: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    seen: set[tuple] = set()
    for r in records:
        _check_record(r)
        ident = (r.get("key"), r["problem"], r.get("phase"), r.get("study"), r.get("trial"))
        if r.get("key") is not None:
            if ident in seen:
                continue
            seen.add(ident)
        pairs[(r["problem"], r["optimizer"])].append(r)
    return dict(pairs)


def first_reaching(history: Sequence[Mapping[str, Any]], problem: Problem) -> Mapping[str, Any] | None:
    """The first epoch record of ``history`` whose ``val_metric`` reaches ``problem``'s target, or
    ``None`` (DeepOBS's speed is its ``epoch``; AlgoPerf's time to target its ``updates``)."""
    for entry in history:
        if problem.reached(entry.get("val_metric")):
            return entry
    return None


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def _order(r: Mapping[str, Any]) -> tuple:
    return (r.get("study") or 0, r.get("trial") or 0, r.get("seed", 0), str(r.get("key")))


@dataclass(frozen=True)
class Seed:
    """One seed of a pair: a study (``external``), a run (``defaults``) or a rerun seed
    (``lr-grid``), with its trials, its fastest trial to the target and its validation-selected one."""

    index: int
    records: tuple[Mapping[str, Any], ...] = field(repr=False)
    fastest: Mapping[str, Any] | None = field(repr=False)
    selected: Mapping[str, Any] | None = field(repr=False)
    epoch: int | None  # the fastest trial's first epoch at the target
    steps: float  # inf: never
    seconds: float  # inf: never
    test: float | None  # the selected trial's final test metric (None: it did not finish)

    @property
    def shown(self) -> Mapping[str, Any] | None:
        """The trial the report draws for this seed: the validation-selected one."""
        return self.selected


def make_seed(index: int, records: Sequence[Mapping[str, Any]], problem: Problem) -> Seed:
    """The :class:`Seed` of ``records`` (the trials of one study, run or rerun)."""
    records = sorted(records, key=_order)
    fastest, hit = None, None
    for r in records:
        entry = first_reaching(r["history"], problem)
        if entry is not None and (hit is None or entry["epoch"] < hit["epoch"]):
            fastest, hit = r, entry
    selected = select_best(records, problem.higher_is_better)
    test = None
    if selected is not None and selected["status"] == "ok" and _finite(selected.get("final_test_metric")):
        test = float(selected["final_test_metric"])
    steps = math.inf if hit is None else float(hit["updates"])
    seconds = math.inf if hit is None or not _finite(hit.get("time")) else float(hit["time"])
    return Seed(index, tuple(records), fastest, selected, None if hit is None else int(hit["epoch"]), steps,
                seconds, test)


@dataclass(frozen=True)
class PairSummary:
    """One optimizer on one problem: its seeds and what they add up to (``inf``: never; intervals
    ``(low, high)`` of the bootstrap, filled in by :func:`analyze`)."""

    problem: str
    optimizer: str
    tuning: str
    seeds: tuple[Seed, ...]
    steps: float
    seconds: float
    test_mean: float | None
    test_std: float | None
    best: Mapping[str, Any] | None = field(repr=False, compare=False)
    records: tuple[Mapping[str, Any], ...] = field(repr=False, compare=False)
    trials: int = 0
    trials_diverged: int = 0
    trials_failed: int = 0
    test_interval: tuple[float, float] = (math.nan, math.nan)
    steps_interval: tuple[float, float] = (math.nan, math.nan)
    seconds_interval: tuple[float, float] = (math.nan, math.nan)

    @property
    def finished(self) -> int:
        """Seeds whose selected trial finished (status ``ok``, a test metric)."""
        return sum(s.test is not None for s in self.seeds)

    @property
    def status(self) -> str:
        """``"ok"`` (every seed finished), ``"partial"`` (some diverged or failed) or ``"failed"``."""
        if self.finished == 0:
            return "failed"
        return "ok" if self.finished == len(self.seeds) else "partial"

    @property
    def test_values(self) -> tuple[float, ...]:
        return tuple(s.test for s in self.seeds if s.test is not None)

    @property
    def lr(self) -> float | None:
        """The best trial's learning rate."""
        return None if self.best is None else lr_of(self.best)

    @property
    def hparams(self) -> dict[str, Any]:
        """The best trial's hyper-parameters (records without them: their learning rate)."""
        best = self.best or {}
        return dict(best.get("hparams") or ({"lr": best["lr"]} if best.get("lr") is not None else {}))

    @property
    def speed_epoch(self) -> float | None:
        """DeepOBS's speed: the median over the seeds of the first epoch at the target (``None``: never)."""
        epochs = [math.inf if s.epoch is None else s.epoch for s in self.seeds]
        value = float(np.median(epochs)) if epochs else math.inf
        return None if math.isinf(value) else value

    @property
    def median_steps(self) -> float | None:
        return None if math.isinf(self.steps) else self.steps

    @property
    def time_to_target(self) -> float:
        """The median steps to the target, ``inf`` when never reached (the performance profile's t)."""
        return self.steps

    @property
    def final_records(self) -> tuple[Mapping[str, Any], ...]:
        """The trials drawn as this pair's learning curves: each seed's validation-selected one."""
        return tuple(s.shown for s in self.seeds if s.shown is not None)


def _seed_groups(records: Sequence[Mapping[str, Any]], problem: Problem) -> list[tuple[int, list]]:
    tuning = {tuning_of(r) for r in records}
    if len(tuning) != 1:
        raise ArgumentValueError(f"Invalid records: those of {problem.name} mix the rulesets {sorted(tuning)} "
                                 "(expected the records of one run)")
    (tuning,) = tuning
    if tuning == "lr-grid":
        tune = [r for r in records if r.get("phase", "tune" if r["seed"] == 0 else "rerun") != "rerun"
                and r["seed"] == 0]
        best = select_best(tune, problem.higher_is_better)
        if best is None:
            return []
        setup = (lr_of(best), best["epochs"], best["batch_size"], best["convention"],
                 tuple(sorted((best.get("hparams") or {"lr": best.get("lr")}).items(), key=str)))
        finals = [r for r in records if (lr_of(r), r["epochs"], r["batch_size"], r["convention"],
                                         tuple(sorted((r.get("hparams") or {"lr": r.get("lr")}).items(), key=str)))
                  == setup]
        by_seed: dict[int, list] = defaultdict(list)
        for r in finals:
            by_seed[int(r["seed"])].append(r)
        return sorted(by_seed.items())
    groups: dict[int, list] = defaultdict(list)
    for r in records:
        groups[int(r["study"] if r.get("study") is not None else r["seed"])].append(r)
    return sorted(groups.items())


def summarize_pair(records: Sequence[Mapping[str, Any]], problem: Problem) -> PairSummary:
    """The statistics of one optimizer on one problem (all its records), without intervals.

    Raises ``ValueError`` when the records mix pairs or rulesets, or when those of one seed mix
    budgets (epochs, batch size) or conventions.
    """
    if not records:
        raise ArgumentValueError("Invalid records: empty (expected the trials of one problem x optimizer)")
    names = {(r["problem"], r["optimizer"]) for r in records}
    if len(names) != 1:
        raise ArgumentValueError(f"Invalid records: they mix problem x optimizer pairs {sorted(names)} (expected "
                                 "the trials of one pair)")
    (pname, opt), = names
    if pname != problem.name:
        raise argument_error("problem", problem.name, f"the records' problem, {pname!r}")
    setups = {(r["epochs"], r["batch_size"]) for r in records if r.get("phase") != "calibrate"}
    if len(setups) > 1:
        raise ArgumentValueError(f"Invalid records: those of {pname} x {opt} mix (epochs, batch_size) "
                                 f"{sorted(setups, key=repr)} (expected the records of one run)")
    seeds = tuple(make_seed(i, recs, problem) for i, recs in _seed_groups(records, problem))
    tests = np.array([s.test for s in seeds if s.test is not None], dtype=float)
    candidates = [s.fastest for s in seeds if s.fastest is not None]
    if candidates:
        sign = 1.0 if problem.higher_is_better else -1.0
        best = min(candidates, key=lambda r: (first_reaching(r["history"], problem)["updates"],
                                               -sign * (r.get("final_val_metric") or -sign * math.inf), _order(r)))
    else:
        best = select_best([s.selected for s in seeds if s.selected is not None], problem.higher_is_better)
    return PairSummary(
        problem=pname, optimizer=opt, tuning=tuning_of(records[0]), seeds=seeds,
        steps=float(np.median([s.steps for s in seeds])) if seeds else math.inf,
        seconds=float(np.median([s.seconds for s in seeds])) if seeds else math.inf,
        test_mean=float(tests.mean()) if tests.size else None,
        test_std=float(tests.std(ddof=1)) if tests.size >= 2 else None,
        best=best, records=tuple(records), trials=len(records),
        trials_diverged=sum(r["status"] == "diverged" for r in records),
        trials_failed=sum(r["status"] == "error" for r in records))


def rank(summaries: Iterable[PairSummary], higher_is_better: bool) -> list[PairSummary]:
    """The pairs of one problem, best first: by mean final metric (``higher_is_better`` gives the
    direction) among pairs whose seeds all finished, then the pairs with some diverged or failed
    seeds, then those with none finished; ties by optimizer name."""
    group = {"ok": 0, "partial": 1, "failed": 2}

    def key(s: PairSummary):
        mean = s.test_mean if s.test_mean is not None else 0.0
        return (group[s.status], -mean if higher_is_better else mean, s.optimizer)

    return sorted(summaries, key=key)


# ---------------------------------------------------------------------------------------------------
# Learning-rate sensitivity


def lr_cell_widths(lrs: Sequence[float]) -> np.ndarray:
    """The width in decades of the stretch of learning rates each grid point stands for: half the
    log10 distance to each neighbour, the end points taking their one neighbour's distance; on an
    evenly spaced log grid every point stands for one grid step (1 decade on the quick grid,
    0.2 on DeepOBS's 36-point grid). ``lrs`` must be positive and increasing.

    >>> lr_cell_widths([1e-4, 1e-3, 1e-2]).round(6).tolist()
    [1.0, 1.0, 1.0]
    >>> lr_cell_widths([1e-3, 1e-2, 1.0]).round(6).tolist()
    [1.0, 1.5, 2.0]
    """
    x = np.log10(np.asarray(lrs, dtype=float))
    if x.size < 2:
        return np.zeros(x.size)
    if not np.all(np.diff(x) > 0):
        raise argument_error("lrs", list(lrs), "increasing positive values")
    gaps = np.diff(x)
    left = np.concatenate([[gaps[0]], gaps])
    right = np.concatenate([gaps, [gaps[-1]]])
    return (left + right) / 2


@dataclass(frozen=True)
class SensitivityCurve:
    """The tuning trials of one optimizer on one problem, by learning rate: ``values[i]`` is the final
    validation metric at ``lrs[i]`` (``None``: diverged or failed); ``good[i]`` whether it is within the
    tolerance of the problem's best; ``decades`` the width of learning rate that is good (``lr-grid``
    only, with at least two learning rates; else ``None``)."""

    problem: str
    optimizer: str
    lrs: tuple[float, ...]
    values: tuple[float | None, ...]
    statuses: tuple[str, ...]
    good: tuple[bool, ...]
    decades: float | None


def within_tolerance(value: float | None, best: float, higher_is_better: bool,
                     rel_tol: float = REL_TOL) -> bool:
    """Whether ``value`` is at most ``rel_tol * |best|`` worse than ``best``.

    >>> within_tolerance(0.93, 0.95, True), within_tolerance(0.90, 0.95, True)
    (True, False)
    >>> within_tolerance(0.104, 0.1, False), within_tolerance(0.106, 0.1, False)
    (True, False)
    """
    if not _finite(value):
        return False
    gap = best - value if higher_is_better else value - best
    return gap <= rel_tol * abs(best) * (1 + 1e-12)


def _tuning_records(recs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The trials that explored hyper-parameters: lr-grid's seed-0 grid, every trial otherwise."""
    if recs and tuning_of(recs[0]) == "lr-grid":
        return [r for r in recs if r["seed"] == 0 and r.get("phase", "tune") != "rerun"]
    return list(recs)


def lr_sensitivity(records: Iterable[Mapping[str, Any]], problems: Iterable[Problem] | Mapping[str, Problem],
                   rel_tol: float = REL_TOL) -> dict[tuple[str, str], SensitivityCurve]:
    """The tuning curves of every pair (final validation metric against learning rate) and, for
    ``lr-grid``, how many decades of learning rate work.

    A learning rate *works* on a problem when its final validation metric is at most
    ``rel_tol * |best|`` worse than ``best``, the best final validation metric of any optimizer's
    tuning trial on that problem: so the width measures how much of the grid gives a near-best
    result, which mixes how good the optimizer can get with how forgiving it is (an optimizer that is
    flat but poor gets 0). ``decades`` adds up :func:`lr_cell_widths` of the working grid points.
    """
    rel_tol = check("rel_tol", rel_tol, Real(0))
    pmap = _problem_map(problems)
    points: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for (pname, opt), recs in group_pairs(records).items():
        if pname not in pmap:
            raise ArgumentValueError(f"Invalid records: some are of the problem {pname!r} (expected records of "
                                     f"the problems given: {', '.join(sorted(pmap))})")
        rows = [r for r in _tuning_records(recs) if lr_of(r) is not None]
        points[(pname, opt)] = sorted(rows, key=lambda r: (lr_of(r), _order(r)))
    best: dict[str, float] = {}
    for (pname, _), rows in points.items():
        hib = pmap[pname].higher_is_better
        for r in rows:
            v = r.get("final_val_metric")
            if r["status"] == "ok" and _finite(v):
                if pname not in best or (v > best[pname] if hib else v < best[pname]):
                    best[pname] = float(v)
    curves = {}
    for (pname, opt), rows in points.items():
        hib = pmap[pname].higher_is_better
        lrs = [lr_of(r) for r in rows]
        vals = [float(r["final_val_metric"]) if r["status"] == "ok" and _finite(r.get("final_val_metric"))
                else None for r in rows]
        good = [pname in best and within_tolerance(v, best[pname], hib, rel_tol) for v in vals]
        decades = None
        if rows and tuning_of(rows[0]) == "lr-grid" and len(set(lrs)) == len(lrs) >= 2:
            decades = float(lr_cell_widths(lrs)[np.array(good, dtype=bool)].sum())
        curves[(pname, opt)] = SensitivityCurve(pname, opt, tuple(lrs), tuple(vals),
                                                tuple(r["status"] for r in rows), tuple(good), decades)
    return curves


def tuneability(curves: Mapping[tuple[str, str], SensitivityCurve]) -> dict[str, float]:
    """Per optimizer, the mean over problems of the working decades of learning rate (problems where it
    is not measurable are left out), best first."""
    per: dict[str, list[float]] = defaultdict(list)
    for (_, opt), c in curves.items():
        if c.decades is not None:
            per[opt].append(c.decades)
    means = {opt: float(np.mean(v)) for opt, v in per.items()}
    return dict(sorted(means.items(), key=lambda kv: (-kv[1], kv[0])))


# ---------------------------------------------------------------------------------------------------
# Everything together


@dataclass(frozen=True)
class DivergenceCount:
    """Per optimizer, over all problems: trials that diverged or failed, in tuning (every trial but
    the drawn ones) and among the trials drawn for its seeds."""

    optimizer: str
    trials: int
    diverged: int
    failed: int
    tuning_trials: int
    tuning_diverged: int
    final_trials: int
    final_diverged: int
    final_failed: int


@dataclass(frozen=True)
class Score:
    """An optimizer's AlgoPerf score and its bootstrap interval ``(low, high)``."""

    value: float
    interval: tuple[float, float]


@dataclass(frozen=True)
class Analysis:
    """Everything the report shows. ``rankings[problem]`` is best first; ``scores[by][optimizer]`` the
    AlgoPerf score of the steps (``by="steps"``) or seconds to target; ``speedup[optimizer]`` the
    geometric-mean speed-up over the baseline (steps); ``sensitivity`` is keyed by (problem,
    optimizer); ``tuneability`` and ``divergence`` by optimizer."""

    problems: dict[str, Problem]
    optimizers: tuple[str, ...]
    tuning: str
    score_by: str
    rankings: dict[str, list[PairSummary]]
    profile: PerformanceProfile
    profile_seconds: PerformanceProfile
    scores: dict[str, dict[str, Score]]
    speedup: dict[str, Score]
    sensitivity: dict[tuple[str, str], SensitivityCurve]
    tuneability: dict[str, float]
    divergence: dict[str, DivergenceCount]
    failures: tuple[Mapping[str, Any], ...]
    rel_tol: float
    records: int
    confidence: float = uncertainty.CONFIDENCE
    draws: int = uncertainty.DRAWS

    def summary(self, problem: str, optimizer: str) -> PairSummary | None:
        for s in self.rankings.get(problem, []):
            if s.optimizer == optimizer:
                return s
        return None

    @property
    def verdict_profile(self) -> PerformanceProfile:
        """The profile the verdict rests on (``score_by``)."""
        return self.profile if self.score_by == "steps" else self.profile_seconds

    def ranked_scores(self, by: str | None = None) -> list[tuple[str, Score]]:
        """(optimizer, score) best first (ties by name), by ``score_by`` unless ``by`` is given."""
        table = self.scores[by or self.score_by]
        return sorted(table.items(), key=lambda kv: (-kv[1].value, kv[0]))

    def mean_rank(self, problems: Iterable[str] | None = None) -> dict[str, float]:
        """Per optimizer, its mean position (1 = best) in the rankings of ``problems`` (default: all)
        on which it ran, best first; problems on which no optimizer finished are left out."""
        ranks: dict[str, list[int]] = defaultdict(list)
        for p in (self.rankings if problems is None else problems):
            ranking = self.rankings.get(p, [])
            if all(s.status == "failed" for s in ranking):
                continue  # no finished run: the order is only alphabetical
            for i, s in enumerate(ranking, start=1):
                ranks[s.optimizer].append(i)
        means = {opt: float(np.mean(v)) for opt, v in ranks.items()}
        return dict(sorted(means.items(), key=lambda kv: (kv[1], kv[0])))

    @property
    def user_problems(self) -> list[str]:
        """The problems that are not built-in (yours, and LIBSVM files), in order."""
        from .. import problems as registry

        return [p for p in self.rankings if not registry.is_builtin(self.problems[p])]


def _seed_matrix(ranked: Sequence[PairSummary], optimizers: Sequence[str], what: str) -> np.ndarray:
    """(optimizers x seeds) of one problem: ``what`` = "steps", "seconds" (inf: never or missing) or
    "test" (NaN: not finished or missing), the seeds by their number."""
    by_opt = {s.optimizer: s for s in ranked}
    indices = sorted({seed.index for s in ranked for seed in s.seeds}) or [0]
    fill = math.nan if what == "test" else math.inf
    out = np.full((len(optimizers), len(indices)), fill)
    for i, opt in enumerate(optimizers):
        if opt in by_opt:
            for seed in by_opt[opt].seeds:
                value = getattr(seed, what)
                out[i, indices.index(seed.index)] = fill if value is None else value
    return out


def analyze(records: Iterable[Mapping[str, Any]], problems: Iterable[Problem] | Mapping[str, Problem],
            *, r_max: float = R_MAX, rel_tol: float = REL_TOL, score_by: str = "steps",
            draws: int = uncertainty.DRAWS, confidence: float = uncertainty.CONFIDENCE) -> Analysis:
    """Summaries, rankings, AlgoPerf's profiles and scores, speed-ups over the baseline, their
    bootstrap intervals (``draws`` draws, ``confidence`` coverage, a fixed generator), learning-rate
    sensitivity and divergence counts. ``score_by`` (``"steps"`` or ``"seconds"``) picks the score the
    verdict rests on.

    Problems without any trial are left out of the rankings and of the profiles (they would lower
    every optimizer's score alike).
    """
    records = list(records)
    pmap = _problem_map(problems)
    rel_tol = check("rel_tol", rel_tol, Real(0))
    score_by = check("score_by", score_by, Options(*SCORE_BY))
    draws = check("draws", draws, Int(1))
    confidence = check("confidence", confidence, Real(0, 1, closed="neither"))
    pairs = group_pairs(records)
    for pname, _ in pairs:
        if pname not in pmap:
            raise ArgumentValueError(f"Invalid records: some are of the problem {pname!r} (expected records of "
                                     f"the problems given: {', '.join(sorted(pmap))})")
    tunings = {tuning_of(r) for r in records}
    if len(tunings) > 1:
        raise ArgumentValueError(f"Invalid records: they mix the rulesets {sorted(tunings)} (expected the records "
                                 "of one run)")
    tuning = next(iter(tunings), "external")
    optimizers = tuple(sorted({opt for _, opt in pairs}, key=lambda o: (o == BASELINE, o)))
    summaries: dict[str, list[PairSummary]] = defaultdict(list)
    for (pname, _), recs in sorted(pairs.items()):
        summaries[pname].append(summarize_pair(recs, pmap[pname]))

    rankings: dict[str, list[PairSummary]] = {}
    steps_by_problem, seconds_by_problem, budgets = [], [], []
    for i, p in enumerate(p for p in pmap if p in summaries):
        steps = _seed_matrix(summaries[p], optimizers, "steps")
        seconds = _seed_matrix(summaries[p], optimizers, "seconds")
        tests = _seed_matrix(summaries[p], optimizers, "test")
        # the same seed draws for the steps, the seconds and the metric of every optimizer
        step_draws, test_draws = uncertainty.pair_draws(steps, tests, draws=draws, seed=uncertainty.SEED + i)
        second_draws, _ = uncertainty.pair_draws(seconds, tests, draws=draws, seed=uncertainty.SEED + i)
        filled = []
        for s in summaries[p]:
            j = optimizers.index(s.optimizer)
            filled.append(dataclasses.replace(s, test_interval=uncertainty.interval(test_draws[j], confidence),
                                              steps_interval=uncertainty.interval(step_draws[j], confidence),
                                              seconds_interval=uncertainty.interval(second_draws[j], confidence)))
        rankings[p] = rank(filled, pmap[p].higher_is_better)
        steps_by_problem.append(steps)
        seconds_by_problem.append(seconds)
        budgets.append(max((int(r.get("budget_steps") or 0) for s in summaries[p] for r in s.records), default=0))

    times = {p: {s.optimizer: s.steps for s in ranked} for p, ranked in rankings.items()}
    profile = performance_profile(times, r_max=r_max, optimizers=optimizers)
    profile_seconds = performance_profile({p: {s.optimizer: s.seconds for s in ranked} for p, ranked in rankings.items()},
                                          r_max=r_max, optimizers=optimizers)
    base = optimizers.index(BASELINE) if BASELINE in optimizers else None
    # the same problem and seed draws for both scores
    step_scores, speedup_draws = uncertainty.overall_draws(steps_by_problem, budgets, base, r_max=r_max, draws=draws,
                                                           seed=uncertainty.SEED)
    second_scores, _ = uncertainty.overall_draws(seconds_by_problem, budgets, None, r_max=r_max, draws=draws,
                                                 seed=uncertainty.SEED)
    scores = {by: {o: Score(prof.scores[o], uncertainty.interval(d[j], confidence)) for j, o in enumerate(optimizers)}
              for by, prof, d in (("steps", profile, step_scores), ("seconds", profile_seconds, second_scores))}
    speedup: dict[str, Score] = {}
    if base is not None and rankings:
        point = speedups(profile.times, np.asarray(budgets, dtype=float), base)
        speedup = {o: Score(float(point[j]), uncertainty.interval(speedup_draws[j], confidence))
                   for j, o in enumerate(optimizers)}

    curves = lr_sensitivity(records, pmap, rel_tol=rel_tol)
    divergence = {}
    for opt in optimizers:
        recs = [r for (_, o), rs in pairs.items() if o == opt for r in rs]
        shown = {id(r) for ranked in rankings.values() for s in ranked if s.optimizer == opt for r in s.final_records}
        finals = [r for r in recs if id(r) in shown]
        tune = [r for r in recs if id(r) not in shown]
        divergence[opt] = DivergenceCount(
            opt, len(recs), sum(r["status"] == "diverged" for r in recs),
            sum(r["status"] == "error" for r in recs), len(tune),
            sum(r["status"] == "diverged" for r in tune), len(finals),
            sum(r["status"] == "diverged" for r in finals), sum(r["status"] == "error" for r in finals))
    failures = tuple(r for (_, _), rs in sorted(pairs.items()) for r in sorted(rs, key=_order)
                     if r["status"] != "ok")
    return Analysis(pmap, optimizers, tuning, score_by, rankings, profile, profile_seconds, scores, speedup,
                    curves, tuneability(curves), divergence, failures, float(rel_tol), len(records),
                    float(confidence), int(draws))
