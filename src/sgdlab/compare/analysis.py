"""What ``sgdlab compare`` concludes from its trials: pure functions from trial records to numbers.

The records are the results store's dicts, one per trial (see :mod:`sgdlab.compare.protocol`); the
problems are :class:`~sgdlab.problems.base.Problem` objects. Per problem x optimizer
(a *pair*):

* **selected learning rate**: :func:`sgdlab.compare.protocol.select_best` over the tuning trials (seed 0);
* **final trials**: every trial at the selected (lr, epochs, batch_size, convention), whatever the seed
  (the seed-0 tuning trial included);
* **test metric**: mean and sample standard deviation (``ddof=1``; ``None`` with fewer than two
  finished seeds) of ``final_test_metric`` over the final trials that finished (status ``"ok"``);
* **DeepOBS speed** (Schneider et al. 2019, Sec. 3): per seed, the first epoch whose validation metric
  reaches the problem's target; its median over the seeds, a seed that never reaches it counting as
  infinitely slow (so the median is finite only when more than half the seeds reach the target);
* **time to target in steps**: the cumulative optimizer steps (``updates``) at that epoch, median
  over the seeds in the same way (AlgoPerf, Dahl et al. 2023, measures time to target and takes the
  median over its independent studies).

Across pairs:

* **ranking** per problem by mean test metric: pairs whose final trials all finished first, then
  pairs with some diverged or failed final trials (their mean is over the survivors only, so it is
  flattering), then pairs with no finished final trial;
* **AlgoPerf performance profile** of the steps to target: r_{p,s} = t_{p,s} / min_s t_{p,s},
  rho_s(tau) = |{p : r_{p,s} <= tau}| / n, score B_s = 1/(r_max - 1) int_1^{r_max} rho_s(tau) dtau with
  AlgoPerf's r_max = 4 (see :func:`performance_profile`);
* **learning-rate sensitivity**: the tuning curve (final validation metric against the learning rate)
  and the number of decades of learning rate whose result is within ``rel_tol`` of the best result on
  the problem (see :func:`lr_sensitivity`);
* **divergence counts** per optimizer, and :func:`recommend`, the "which optimizer should I use?" text
  written from all of the above.

Example:
    >>> from sgdlab.problems.base import Budget, Problem
    >>> quad = Problem("quad", "Quadratic", "A quadratic.", "loss", False, 0.5, Budget(3, None),
    ...                Budget(3, None), builder=lambda seed: None)
    >>> def trial(opt, lr, seed, losses):
    ...     history = [{"epoch": e + 1, "updates": 10 * (e + 1), "train_loss": v, "val_loss": v,
    ...                 "val_metric": v, "time": 0.1 * (e + 1)} for e, v in enumerate(losses)]
    ...     return {"key": f"{opt}{lr}{seed}", "problem": "quad", "optimizer": opt, "lr": lr,
    ...             "seed": seed, "epochs": 3, "batch_size": None, "convention": "paper",
    ...             "phase": "tune" if seed == 0 else "rerun", "status": "ok", "error": None,
    ...             "history": history, "final_val_metric": losses[-1],
    ...             "final_test_metric": losses[-1], "final_test_loss": losses[-1]}
    >>> records = [trial("sgd", 0.1, 0, [0.9, 0.6, 0.4]), trial("sgd", 0.01, 0, [1.0, 0.9, 0.8]),
    ...            trial("sgd", 0.1, 1, [0.8, 0.45, 0.3]), trial("adam", 0.01, 0, [0.4, 0.2, 0.1])]
    >>> a = analyze(records, [quad])
    >>> [(s.optimizer, s.lr, s.seeds, s.test_mean) for s in a.rankings["quad"]]
    [('adam', 0.01, 1, 0.1), ('sgd', 0.1, 2, 0.35)]
    >>> a.rankings["quad"][1].speed_epochs, a.rankings["quad"][1].speed_epoch
    ((3, 2), 2.5)
    >>> a.profile.times.tolist(), a.profile.scores  # steps to target: adam 10, sgd median(30, 20)
    ([[10.0, 25.0]], {'adam': 1.0, 'sgd': 0.5})
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import ArgumentValueError, Instance, Real, argument_error, check, validate
from ..problems.base import Problem
from .protocol import select_best

#: AlgoPerf's upper integration limit (and plot limit) of the performance profile: an optimizer that
#: needs more than 4x the steps of the fastest gets no credit on that problem.
R_MAX = 4.0
#: A tuning trial "works" when its final validation metric is within this fraction of the best
#: result on the problem (relative to the best value's magnitude); see :func:`lr_sensitivity`.
REL_TOL = 0.05
STATUSES = ("ok", "diverged", "error")
_REQUIRED = ("problem", "optimizer", "lr", "seed", "epochs", "batch_size", "convention", "status",
             "history")


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


def group_pairs(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """The records by (problem, optimizer), sorted by key; a trial stored twice (same ``key``) counts once.

    >>> group_pairs([{"key": "a", "problem": "p", "optimizer": "adam", "lr": 0.1, "seed": 0,
    ...               "epochs": 1, "batch_size": 8, "convention": "paper", "status": "ok",
    ...               "history": []}]).keys()
    dict_keys([('p', 'adam')])
    """
    pairs: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    seen: set[str] = set()
    for r in records:
        _check_record(r)
        key = r.get("key")
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        pairs[(r["problem"], r["optimizer"])].append(r)
    return dict(sorted(pairs.items()))


def _same_lr(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)


def _setup(r: Mapping[str, Any]) -> tuple:
    return (r["epochs"], r["batch_size"], r["convention"])


def first_reaching(history: Sequence[Mapping[str, Any]], problem: Problem) -> Mapping[str, Any] | None:
    """The first epoch record of ``history`` whose ``val_metric`` reaches ``problem``'s target, or
    ``None`` (DeepOBS's speed is its ``epoch``; AlgoPerf's time to target its ``updates``)."""
    for entry in history:
        if problem.reached(entry.get("val_metric")):
            return entry
    return None


def _median_or_inf(values: Sequence[float]) -> float:
    """The median with ``inf`` for "never"; ``inf`` when more than half are ``inf`` (or none)."""
    return float(np.median(np.asarray(values, dtype=float))) if len(values) else math.inf


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


@dataclass(frozen=True)
class PairSummary:
    """One optimizer on one problem, at its selected learning rate.

    ``speed_epochs`` and ``steps`` are per final trial (in seed order), ``None`` where that seed never
    reached the target; ``speed_epoch`` and ``median_steps`` are their medians (``None``: never, i.e.
    more than half the seeds did not reach the target).
    """

    problem: str
    optimizer: str
    lr: float | None
    epochs: int | None
    batch_size: int | None
    convention: str | None
    seeds: int  # final trials
    finished: int  # final trials with status "ok" and a test metric
    diverged: int  # final trials that diverged
    failed: int  # final trials that raised an error
    test_mean: float | None
    test_std: float | None
    test_values: tuple[float, ...]
    speed_epochs: tuple[int | None, ...]
    speed_epoch: float | None
    steps: tuple[int | None, ...]
    median_steps: float | None
    tuning_trials: int
    tuning_diverged: int
    final_records: tuple[Mapping[str, Any], ...] = field(repr=False, compare=False)

    @property
    def status(self) -> str:
        """``"ok"`` (every final trial finished), ``"partial"`` (some diverged or failed) or
        ``"failed"`` (none finished)."""
        if self.finished == 0:
            return "failed"
        return "ok" if self.finished == self.seeds else "partial"

    @property
    def time_to_target(self) -> float:
        """The median steps to the target, ``inf`` when never reached (the performance profile's t)."""
        return math.inf if self.median_steps is None else float(self.median_steps)


def summarize_pair(records: Sequence[Mapping[str, Any]], problem: Problem) -> PairSummary:
    """The statistics of one optimizer on one problem (all its records: tuning and reruns).

    Raises ``ValueError`` when the records mix budgets or conventions (epochs, batch size, convention):
    they must be the records of one run of the protocol.
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
    setups = {_setup(r) for r in records}
    if len(setups) != 1:
        raise ArgumentValueError(f"Invalid records: those of {pname} x {opt} mix (epochs, batch_size, convention) "
                                 f"{sorted(setups, key=repr)} (expected the records of one run)")
    tuning = [r for r in records if r["seed"] == 0]
    best = select_best(tuning, problem.higher_is_better)
    n_tune_div = sum(r["status"] == "diverged" for r in tuning)
    if best is None:
        finals: list[Mapping[str, Any]] = []
        lr = epochs = batch = conv = None
    else:
        lr = float(best["lr"])
        epochs, batch, conv = _setup(best)
        finals = sorted((r for r in records if _same_lr(float(r["lr"]), lr)), key=lambda r: r["seed"])
    done = [r for r in finals if r["status"] == "ok" and _finite(r.get("final_test_metric"))]
    values = np.array([float(r["final_test_metric"]) for r in done])
    speed, steps = [], []
    for r in finals:
        hit = first_reaching(r["history"], problem)
        speed.append(None if hit is None else int(hit["epoch"]))
        steps.append(None if hit is None else int(hit["updates"]))
    med_epoch = _median_or_inf([math.inf if e is None else e for e in speed]) if finals else math.inf
    med_steps = _median_or_inf([math.inf if s is None else s for s in steps]) if finals else math.inf
    return PairSummary(
        problem=pname, optimizer=opt, lr=lr, epochs=epochs, batch_size=batch, convention=conv,
        seeds=len(finals), finished=len(done),
        diverged=sum(r["status"] == "diverged" for r in finals),
        failed=sum(r["status"] == "error" for r in finals),
        test_mean=float(values.mean()) if values.size else None,
        test_std=float(values.std(ddof=1)) if values.size >= 2 else None,
        test_values=tuple(float(v) for v in values),
        speed_epochs=tuple(speed), speed_epoch=None if math.isinf(med_epoch) else med_epoch,
        steps=tuple(steps), median_steps=None if math.isinf(med_steps) else med_steps,
        tuning_trials=len(tuning), tuning_diverged=n_tune_div, final_records=tuple(finals))


def rank(summaries: Iterable[PairSummary], higher_is_better: bool) -> list[PairSummary]:
    """The pairs of one problem, best first: by mean test metric (``higher_is_better`` gives the
    direction) among pairs whose final trials all finished, then the pairs with some diverged or
    failed final trials, then those with none finished; ties by optimizer name."""
    group = {"ok": 0, "partial": 1, "failed": 2}

    def key(s: PairSummary):
        mean = s.test_mean if s.test_mean is not None else 0.0
        return (group[s.status], -mean if higher_is_better else mean, s.optimizer)

    return sorted(summaries, key=key)


# ---------------------------------------------------------------------------------------------------
# AlgoPerf performance profile


@dataclass(frozen=True)
class PerformanceProfile:
    """AlgoPerf's performance profile of ``times[p, s]`` (steps to target, ``inf``: never).

    ``ratios[p, s] = times[p, s] / min_s times[p, s]`` (``inf`` where ``s`` never reached the target or
    no optimizer did); :meth:`rho` and :attr:`scores` as in Dahl et al. (2023), Sec. 4.5.
    """

    problems: tuple[str, ...]
    optimizers: tuple[str, ...]
    times: np.ndarray
    ratios: np.ndarray
    r_max: float = R_MAX

    def rho(self, tau: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """rho_s(tau): the fraction of problems on which ``s`` is within a factor ``tau`` of the
        fastest; shape ``(len(optimizers),)`` for a scalar ``tau``, else ``(len(optimizers), len(tau))``."""
        t = np.asarray(tau, dtype=float)
        if not self.problems:
            return np.zeros((len(self.optimizers),) + t.shape)
        hits = self.ratios[:, :, None] <= t.reshape(1, 1, -1)
        out = hits.mean(axis=0)
        return out[:, 0] if t.ndim == 0 else out

    @property
    def scores(self) -> dict[str, float]:
        """B_s = 1/(r_max - 1) int_1^{r_max} rho_s(tau) dtau, in [0, 1], computed exactly: rho_s is a
        step function, so each problem adds (r_max - r_{p,s}) / ((r_max - 1) n) when r_{p,s} <= r_max."""
        if not self.problems:
            return {s: 0.0 for s in self.optimizers}
        credit = np.clip(self.r_max - self.ratios, 0.0, self.r_max - 1.0) / (self.r_max - 1.0)
        credit[~np.isfinite(self.ratios)] = 0.0
        return {s: float(v) for s, v in zip(self.optimizers, credit.mean(axis=0))}

    def reached(self) -> dict[str, int]:
        """Per optimizer, on how many problems it reached the target at all."""
        return {s: int(np.isfinite(self.times[:, j]).sum()) for j, s in enumerate(self.optimizers)}


def performance_profile(times: Mapping[str, Mapping[str, float]], r_max: float = R_MAX,
                        optimizers: Sequence[str] | None = None) -> PerformanceProfile:
    """The performance profile of ``times[problem][optimizer]`` (steps to target; ``inf``: never).

    An optimizer missing on a problem counts as never reaching its target. ``r_max`` is AlgoPerf's
    upper integration limit (4). AlgoPerf's scoring code evaluates rho on 100 evenly spaced tau in
    [1, r_max] and integrates with the trapezoidal rule; here the integral of the step function is
    exact, which is what that approximation tends to.

    >>> prof = performance_profile({"a": {"x": 100, "y": 200}, "b": {"x": 300, "y": math.inf}})
    >>> prof.ratios.tolist()
    [[1.0, 2.0], [1.0, inf]]
    >>> prof.rho(2.0).tolist(), prof.scores
    ([1.0, 0.5], {'x': 1.0, 'y': 0.3333333333333333})
    """
    r_max = check("r_max", r_max, Real(1, closed="neither"))
    check("times", times, Instance(Mapping, what="a dict {problem: {optimizer: steps}}"))
    problems = tuple(times)
    names = list(optimizers) if optimizers is not None else sorted({s for p in times.values() for s in p})
    t = np.full((len(problems), len(names)), math.inf)
    for i, p in enumerate(problems):
        for s, value in times[p].items():
            if s not in names:
                raise argument_error(f"times[{p!r}]", {s: value}, f"times of the optimizers {names}")
            value = float(value)
            if math.isnan(value) or value <= 0:
                raise argument_error(f"times[{p!r}][{s!r}]", value, "a positive number, or inf for never")
            t[i, names.index(s)] = value
    best = t.min(axis=1, initial=math.inf, keepdims=True) if names else np.full((len(problems), 1),
                                                                                  math.inf)
    with np.errstate(invalid="ignore"):
        ratios = np.where(np.isfinite(t) & np.isfinite(best), t / best, math.inf)
    return PerformanceProfile(problems, tuple(names), t, ratios, float(r_max))


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
    """The tuning trials of one optimizer on one problem: ``values[i]`` is the final validation
    metric at ``lrs[i]`` (``None``: diverged or failed); ``good[i]`` whether it is within the
    tolerance of the problem's best; ``decades`` the width of learning rate that is good
    (``None`` with fewer than two learning rates)."""

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


def lr_sensitivity(records: Iterable[Mapping[str, Any]], problems: Iterable[Problem] | Mapping[str, Problem],
                   rel_tol: float = REL_TOL) -> dict[tuple[str, str], SensitivityCurve]:
    """The tuning curves (seed-0 trials) of every pair and how many decades of learning rate work.

    A learning rate *works* on a problem when its final validation metric is at most
    ``rel_tol * |best|`` worse than ``best``, the best final validation metric of any optimizer's
    tuning trial on that problem: so the width measures how much of the grid gives a near-best
    result, which mixes how good the optimizer can get with how forgiving it is (an optimizer that is
    flat but poor gets 0). ``decades`` adds up :func:`lr_cell_widths` of the working grid points.
    """
    rel_tol = check("rel_tol", rel_tol, Real(0))
    pmap = _problem_map(problems)
    tuning: dict[tuple[str, str], dict[float, Mapping[str, Any]]] = defaultdict(dict)
    for (pname, opt), recs in group_pairs(records).items():
        if pname not in pmap:
            raise ArgumentValueError(f"Invalid records: some are of the problem {pname!r} (expected records of "
                                     f"the problems given: {', '.join(sorted(pmap))})")
        for r in sorted(recs, key=lambda r: r["lr"]):
            if r["seed"] == 0:
                tuning[(pname, opt)][float(r["lr"])] = r
    best: dict[str, float] = {}
    for (pname, _), by_lr in tuning.items():
        hib = pmap[pname].higher_is_better
        for r in by_lr.values():
            v = r.get("final_val_metric")
            if r["status"] == "ok" and _finite(v):
                if pname not in best or (v > best[pname] if hib else v < best[pname]):
                    best[pname] = float(v)
    curves = {}
    for (pname, opt), by_lr in tuning.items():
        hib = pmap[pname].higher_is_better
        lrs = sorted(by_lr)
        vals = [float(by_lr[lr]["final_val_metric"]) if by_lr[lr]["status"] == "ok"
                and _finite(by_lr[lr].get("final_val_metric")) else None for lr in lrs]
        good = [pname in best and within_tolerance(v, best[pname], hib, rel_tol) for v in vals]
        widths = lr_cell_widths(lrs)
        decades = float(widths[np.array(good, dtype=bool)].sum()) if len(lrs) >= 2 else None
        curves[(pname, opt)] = SensitivityCurve(pname, opt, tuple(lrs), tuple(vals),
                                                tuple(by_lr[lr]["status"] for lr in lrs), tuple(good),
                                                decades)
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
    """Per optimizer, over all problems: trials that diverged or failed, in tuning and at the
    selected learning rate."""

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
class Analysis:
    """Everything the report shows. ``rankings[problem]`` is best first; ``sensitivity`` is keyed by
    (problem, optimizer); ``tuneability`` and ``divergence`` by optimizer."""

    problems: dict[str, Problem]
    optimizers: tuple[str, ...]
    rankings: dict[str, list[PairSummary]]
    profile: PerformanceProfile
    sensitivity: dict[tuple[str, str], SensitivityCurve]
    tuneability: dict[str, float]
    divergence: dict[str, DivergenceCount]
    failures: tuple[Mapping[str, Any], ...]
    rel_tol: float
    records: int

    def summary(self, problem: str, optimizer: str) -> PairSummary | None:
        for s in self.rankings.get(problem, []):
            if s.optimizer == optimizer:
                return s
        return None

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


def analyze(records: Iterable[Mapping[str, Any]], problems: Iterable[Problem] | Mapping[str, Problem],
            *, r_max: float = R_MAX, rel_tol: float = REL_TOL) -> Analysis:
    """Summaries, rankings, performance profile, learning-rate sensitivity and divergence counts.

    Problems without any trial are left out of the rankings and of the performance profile (they
    would lower every optimizer's score alike).
    """
    records = list(records)
    pmap = _problem_map(problems)
    pairs = group_pairs(records)
    for pname, _ in pairs:
        if pname not in pmap:
            raise ArgumentValueError(f"Invalid records: some are of the problem {pname!r} (expected records of "
                                     f"the problems given: {', '.join(sorted(pmap))})")
    optimizers = tuple(sorted({opt for _, opt in pairs}))
    summaries: dict[str, list[PairSummary]] = defaultdict(list)
    for (pname, _), recs in pairs.items():
        summaries[pname].append(summarize_pair(recs, pmap[pname]))
    rankings = {p: rank(summaries[p], pmap[p].higher_is_better) for p in pmap if p in summaries}
    times = {p: {s.optimizer: s.time_to_target for s in ranked} for p, ranked in rankings.items()}
    profile = performance_profile(times, r_max=r_max, optimizers=optimizers)
    curves = lr_sensitivity(records, pmap, rel_tol=rel_tol)
    divergence = {}
    for opt in optimizers:
        recs = [r for (_, o), rs in pairs.items() if o == opt for r in rs]
        tune = [r for r in recs if r["seed"] == 0]
        finals = [r for ranked in rankings.values() for s in ranked if s.optimizer == opt
                  for r in s.final_records]
        divergence[opt] = DivergenceCount(
            opt, len(recs), sum(r["status"] == "diverged" for r in recs),
            sum(r["status"] == "error" for r in recs), len(tune),
            sum(r["status"] == "diverged" for r in tune), len(finals),
            sum(r["status"] == "diverged" for r in finals), sum(r["status"] == "error" for r in finals))
    failures = tuple(r for rs in pairs.values() for r in sorted(rs, key=lambda r: (r["lr"], r["seed"]))
                     if r["status"] != "ok")
    return Analysis(pmap, optimizers, rankings, profile, curves, tuneability(curves), divergence,
                    failures, float(rel_tol), len(records))


# ---------------------------------------------------------------------------------------------------
# "Which optimizer should I use?"


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _names(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _leaders(scores: Mapping[str, float], higher: bool = True, eps: float = 1e-12) -> list[str]:
    if not scores:
        return []
    top = max(scores.values()) if higher else min(scores.values())
    return sorted(s for s, v in scores.items() if abs(v - top) <= eps)


def _metric_value(s: PairSummary) -> str:
    if s.test_mean is None:
        return "no finished run"
    return _fmt(s.test_mean) + ("" if s.test_std is None else f" ± {_fmt(s.test_std, 2)}")


@validate(analysis=Instance(Analysis, what="an Analysis (of analyze)"), config=(Instance(Mapping, what="a dict"), None))
def recommend(analysis: Analysis, config: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """The answer to "which optimizer should I use?", written from ``analysis``: a list of
    (topic, plain-text paragraph) in this order: overall, per problem, sparse problems, learning-rate
    robustness, divergence, caveat. Nothing in it is fixed in advance but the wording."""
    a = analysis
    out: list[tuple[str, str]] = []
    n = len(a.profile.problems)
    scores = a.profile.scores
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    mean_rank = a.mean_rank()
    if not a.rankings:
        return [("Overall", "There are no trial results to compare yet.")]
    if n and ranked and ranked[0][1] > 0:
        top = _leaders(scores)
        lead = (f"{_names(top)} tie" if len(top) > 1 else f"{top[0]} is") + \
            f" the fastest to the targets overall (AlgoPerf score {ranked[0][1]:.3f}"
        reached = a.profile.reached()
        others = ", ".join(f"{s} {v:.3f}" for s, v in ranked[len(top):len(top) + 3])
        text = (lead + f", reaching the target on {reached[top[0]]} of {n} problems). The score is the "
                f"area under the performance profile of steps to target up to r_max = {a.profile.r_max:g}"
                "; 1 means fastest everywhere.")
        if others:
            text += f" Next: {others}."
    else:
        text = ("No optimizer reached the validation target of any problem within the budget, so the "
                "performance profile cannot separate them.")
    if mean_rank:
        best_rank = _leaders(mean_rank, higher=False)
        counted = sum(any(s.status != "failed" for s in r) for r in a.rankings.values())
        text += (f" By final test metric, {_names(best_rank)} "
                 f"{'have' if len(best_rank) > 1 else 'has'} the best mean rank "
                 f"({mean_rank[best_rank[0]]:.2g} over {counted} problem{'s' if counted != 1 else ''}).")
    out.append(("Overall", text))

    parts = []
    for p, ranking in a.rankings.items():
        prob = a.problems[p]
        win = ranking[0]
        if win.status == "failed":
            parts.append(f"{p}: no optimizer finished")
        else:
            parts.append(f"{p}: {win.optimizer} ({prob.metric} {_metric_value(win)}, lr {win.lr:.3g})")
    out.append(("Per problem", "Best final test metric per problem: " + "; ".join(parts) + "."))

    sparse = [p for p in a.rankings if "sparse" in a.problems[p].tags]
    if sparse:
        sr = a.mean_rank(sparse)
        lead = _leaders(sr, higher=False)
        if lead:
            out.append(("Sparse problems",
                        f"On the problems tagged sparse ({_names(sparse)}), {_names(lead)} "
                        f"{'have' if len(lead) > 1 else 'has'} the best mean rank by test metric "
                        f"({sr[lead[0]]:.2g})."))
        else:
            out.append(("Sparse problems", f"On the problems tagged sparse ({_names(sparse)}), no "
                        "optimizer finished."))
    else:
        out.append(("Sparse problems", "No problem of this comparison is tagged sparse."))

    if a.tuneability:
        tune = a.tuneability
        lead = _leaders(tune)
        last = _leaders(tune, higher=False)
        if tune[lead[0]] > 0:
            text = (f"Most robust to the learning rate: {_names(lead)}, with on average "
                    f"{tune[lead[0]]:.2g} decades of learning rate whose final validation metric is "
                    f"within {a.rel_tol:.0%} of the best result on the problem")
            if set(last) != set(lead):
                text += f"; least: {_names(last)} ({tune[last[0]]:.2g} decades)"
            out.append(("Learning rate", text + "."))
        else:  # the best trial of a problem always works: so no tuning trial finished
            out.append(("Learning rate", "No tuning trial finished, so the sensitivity to the "
                        "learning rate cannot be measured."))
    else:
        out.append(("Learning rate", "Only one learning rate was tried, so the sensitivity to the "
                    "learning rate cannot be measured."))

    final_div = sorted((d for d in a.divergence.values() if d.final_diverged or d.final_failed),
                       key=lambda d: (-(d.final_diverged + d.final_failed), d.optimizer))
    if final_div:
        text = "At their selected learning rate, " + "; ".join(
            f"{d.optimizer} " + " and ".join(
                w for w in (f"diverged in {d.final_diverged}" if d.final_diverged else "",
                            f"failed in {d.final_failed}" if d.final_failed else "") if w)
            + f" of {d.final_trials} runs" for d in final_div) + "."
    else:
        text = "No run diverged at its selected learning rate."
    shares = {d.optimizer: d.tuning_diverged / d.tuning_trials for d in a.divergence.values()
              if d.tuning_trials}
    if shares and max(shares.values()) > 0:
        lead = _leaders(shares)
        d = a.divergence[lead[0]]
        text += (f" Largest share of diverged tuning trials: {shares[lead[0]]:.0%} ({d.tuning_diverged} of "
                 f"{d.tuning_trials}), for {_names(lead)}.")
    else:
        text += " No tuning trial diverged."
    out.append(("Divergence", text))
    out.append(("Caveat", _caveat(a, config)))
    return out


def _caveat(a: Analysis, config: Mapping[str, Any] | None) -> str:
    mode = (config or {}).get("mode")
    lrs = sorted({lr for c in a.sensitivity.values() for lr in c.lrs})
    seeds = max((s.seeds for r in a.rankings.values() for s in r), default=0)
    epochs = sorted({s.epochs for r in a.rankings.values() for s in r if s.epochs is not None})
    if len(lrs) > 1:
        budget = f"{len(lrs)} learning rates ({lrs[0]:g} to {lrs[-1]:g})"
    else:
        budget = f"1 learning rate ({lrs[0]:g})" if lrs else "no learning rate"
    budget += f", up to {seeds} seed{'s' if seeds != 1 else ''} at the selected one"
    if epochs:
        budget += (f", {epochs[0]} epoch{'s' if epochs[0] != 1 else ''}" if len(epochs) == 1
                   else f", {epochs[0]} to {epochs[-1]} epochs")
    head = f"Mode {mode}: " if mode else "Budget: "
    text = head + budget + "."
    if mode == "quick":
        text += (" Short budgets favour optimizers that make fast progress early and a coarse grid may "
                 "miss an optimizer's best learning rate; rerun with --full (DeepOBS's 36 learning "
                 "rates and 10 seeds) before drawing firm conclusions.")
    text += (" Only the learning rate was tuned, every other hyper-parameter kept its default, and "
             "the conclusions hold for these problems and budgets: other problems may rank the "
             "optimizers differently (Schmidt, Schneider & Hennig 2021 found no optimizer that "
             "dominates across tasks).")
    return text
