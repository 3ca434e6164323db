"""The answer to "which optimizer should I use?", written from an :class:`~sgdlab.compare.analysis.Analysis`.

Only the wording is fixed in advance. A winner is named only where its bootstrap interval (over seeds,
and for the overall score over problems too) lies wholly on the better side of the runner-up's
(:func:`sgdlab.compare.uncertainty.separated`); otherwise the leaders are called indistinguishable,
and the text lists every optimizer whose interval overlaps the leader's. Topics, in order: your
problems (where the comparison has any), overall, the speed-up over the baseline, per problem, sparse
problems, learning rate (``lr-grid``), divergence, and a caveat that says what was tuned, what the
intervals cover and which numbers are deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .._validation import Instance, validate
from ..problems.base import finite_target
from .analysis import Analysis
from .baseline import BASELINE
from .uncertainty import separated


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "never"
    return f"{value:.{digits}g}"


def _names(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _score(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _steps(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:,.0f}"


def span(interval: tuple[float, float], fmt: Any = _fmt) -> str:
    """``[0.55, 0.7]``: an interval as the report writes it."""
    return f"[{fmt(interval[0])}, {fmt(interval[1])}]"


def _overlapping(ranked: Sequence[tuple[str, tuple[float, float]]], higher_is_better: bool) -> list[str]:
    """The leader and every other whose interval overlaps the leader's."""
    lead = ranked[0][1]
    return [ranked[0][0]] + [name for name, iv in ranked[1:] if not separated(lead, iv, higher_is_better)]


def _decide(ranked: Sequence[tuple[str, float, tuple[float, float]]], higher_is_better: bool, unit: Any,
            claim: str, measure: str) -> str:
    """``X <claim> (v [lo, hi]), clear of the next, Y (...)`` when X's interval separates from the
    runner-up's, else ``X, Y and Z are indistinguishable by <measure>: ...``."""
    name, value, iv = ranked[0]
    if len(ranked) == 1:
        return f"{name} {claim} ({unit(value)} {span(iv, unit)}), the only one with a result"
    second, v2, iv2 = ranked[1]
    if separated(iv, iv2, higher_is_better):
        return f"{name} {claim} ({unit(value)} {span(iv, unit)}), clear of the next, {second} ({unit(v2)} {span(iv2, unit)})"
    tied = _overlapping([(n, i) for n, _, i in ranked], higher_is_better)
    shown = ", ".join(f"{n} {unit(v)} {span(i, unit)}" for n, v, i in [r for r in ranked if r[0] in tied][:4])
    more = f" and {len(tied) - 4} more" if len(tied) > 4 else ""
    who = _names(tied) if len(tied) <= 4 else f"{len(tied)} optimizers"
    return f"{who} are indistinguishable by {measure}: {shown}{more} (their intervals overlap)"


def _pair_lines(a: Analysis, p: str) -> list[str]:
    prob = a.problems[p]
    ranking = a.rankings[p]
    done = [s for s in ranking if s.status != "failed"]
    if not done:
        return [f"no optimizer finished a run on {p}"]
    target = (f"target {prob.target:g}" + (" (calibrated)" if prob.target_calibrated else "")
              if finite_target(prob.target) else "no target (every calibration run diverged)")
    fast = sorted((s for s in ranking if not math.isinf(s.steps)), key=lambda s: (s.steps, s.optimizer))
    lines = [f"{p} ({prob.metric}, {target})"]
    if fast:
        lines.append(_decide([(s.optimizer, s.steps, s.steps_interval) for s in fast], False, _steps,
                             "is the fastest to the target (median steps)", "steps to target"))
    else:
        lines.append("no optimizer reached the target in more than half its seeds")
    best = [(s.optimizer, s.test_mean, s.test_interval) for s in done if s.test_mean is not None]
    lines.append(_decide(best, prob.higher_is_better, _fmt, f"has the best final {prob.metric}",
                         f"final {prob.metric}"))
    base = a.summary(p, BASELINE)
    if base is not None:
        steps = "never reached the target" if math.isinf(base.steps) else f"{_steps(base.steps)} steps to the target"
        lines.append(f"the baseline: {prob.metric} {_fmt(base.test_mean)}, {steps}")
    return lines


def _score_text(a: Analysis, by: str) -> str:
    ranked = a.ranked_scores(by)
    rows = [(o, s.value, s.interval) for o, s in ranked]
    return _decide(rows, True, _score, f"has the best AlgoPerf score ({by} to target)",
                   f"AlgoPerf score ({by} to target)")


@validate(analysis=Instance(Analysis, what="an Analysis (of analyze)"), config=(Instance(Mapping, what="a dict"), None))
def recommend(analysis: Analysis, config: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """The answer to "which optimizer should I use?": a list of (topic, plain-text paragraph)."""
    a = analysis
    if not a.rankings:
        return [("Overall", "There are no trial results to compare yet.")]
    out: list[tuple[str, str]] = []
    ci = f"{a.confidence:.0%}"
    yours = a.user_problems
    if yours:
        out.append(("Your problems", "; ".join(": ".join([lines[0], "; ".join(lines[1:])]) if len(lines) > 1
                                               else lines[0] for lines in (_pair_lines(a, p) for p in yours)) + "."))

    n = len(a.profile.problems)
    lead_score = a.ranked_scores()[0][1].value if a.scores[a.score_by] else 0.0
    if lead_score > 0:
        reached = a.verdict_profile.reached()
        text = (f"Over {n} problem{'s' if n != 1 else ''}: " + _score_text(a, a.score_by)
                + f" (AlgoPerf's score: 1 means fastest on every problem; {ci} bootstrap intervals over the "
                f"seeds and the problems). {a.ranked_scores()[0][0]} reached the target on "
                f"{reached[a.ranked_scores()[0][0]]} of {n}.")
        other = "seconds" if a.score_by == "steps" else "steps"
        top_other = a.ranked_scores(other)[0]
        text += (f" By {other} to target: {top_other[0]} leads ({_score(top_other[1].value)} "
                 f"{span(top_other[1].interval, _score)})"
                 + ("; seconds vary from run to run, so the verdict rests on steps." if other == "seconds" else "."))
    else:
        text = ("No optimizer reached the validation target of any problem within the budget, so the "
                "performance profile cannot separate them.")
    mean_rank = a.mean_rank()
    if mean_rank:
        best_rank = [o for o, v in mean_rank.items() if v == min(mean_rank.values())]
        text += (f" By final test metric, {_names(best_rank)} {'have' if len(best_rank) > 1 else 'has'} the best "
                 f"mean rank ({mean_rank[best_rank[0]]:.2g} over {len(a.rankings)} problem"
                 f"{'s' if len(a.rankings) != 1 else ''}).")
    out.append(("Overall", text))

    if a.speedup:
        rows = sorted(((o, s) for o, s in a.speedup.items() if o != BASELINE), key=lambda kv: (-kv[1].value, kv[0]))
        faster = [o for o, s in rows if s.interval[0] > 1]
        slower = [o for o, s in rows if s.interval[1] < 1]
        top = ", ".join(f"{o} {s.value:.2f}x {span(s.interval, lambda v: f'{v:.2f}')}" for o, s in rows[:3])
        text = (f"Geometric-mean speed-up in steps over the baseline (AlgoPerf's NAdamW with warm-up and cosine "
                f"decay; above 1: fewer steps to the targets): {top}. ")
        text += (f"Faster than the baseline beyond doubt ({ci} interval above 1): {_names(faster)}. " if faster
                 else "No optimizer is faster than the baseline beyond doubt (every interval reaches 1 or below). ")
        text += (f"Slower beyond doubt: {_names(slower)}." if slower else "None is slower beyond doubt.")
        out.append(("Speed-up over the baseline", text))

    parts = []
    for p, ranking in a.rankings.items():
        if p in yours:
            continue
        done = [s for s in ranking if s.status != "failed" and s.test_mean is not None]
        if not done:
            parts.append(f"{p}: no optimizer finished")
            continue
        prob = a.problems[p]
        first, rest = done[0], done[1:]
        if rest and not separated(first.test_interval, rest[0].test_interval, prob.higher_is_better):
            tied = _overlapping([(s.optimizer, s.test_interval) for s in done], prob.higher_is_better)
            parts.append(f"{p}: {len(tied)} indistinguishable, led by {first.optimizer} ({_fmt(first.test_mean)})")
        else:
            parts.append(f"{p}: {first.optimizer} ({prob.metric} {_fmt(first.test_mean)} {span(first.test_interval)})")
    if parts:
        out.append(("Per problem", "Best final test metric (a winner named only where its interval clears the "
                    "next one's): " + "; ".join(parts) + "."))

    sparse = [p for p in a.rankings if "sparse" in a.problems[p].tags]
    if sparse:
        sr = a.mean_rank(sparse)
        lead = [o for o, v in sr.items() if v == min(sr.values())] if sr else []
        out.append(("Sparse problems",
                    f"On the problems tagged sparse ({_names(sparse)}), {_names(lead)} "
                    f"{'have' if len(lead) > 1 else 'has'} the best mean rank by test metric ({sr[lead[0]]:.2g})."
                    if lead else f"On the problems tagged sparse ({_names(sparse)}), no optimizer finished."))

    if a.tuning == "lr-grid" and a.tuneability:
        tune = a.tuneability
        top = max(tune.values())
        lead = [o for o, v in tune.items() if v == top]
        last = [o for o, v in tune.items() if v == min(tune.values())]
        text = (f"Most robust to the learning rate: {_names(lead)}, with on average {top:.2g} decades of "
                f"learning rate whose final validation metric is within {a.rel_tol:.0%} of the best result on "
                "the problem")
        if set(last) != set(lead):
            text += f"; least: {_names(last)} ({tune[last[0]]:.2g} decades)"
        out.append(("Learning rate", text + "."))

    final_div = sorted((d for d in a.divergence.values() if d.final_diverged or d.final_failed),
                       key=lambda d: (-(d.final_diverged + d.final_failed), d.optimizer))
    if final_div:
        text = "Among the trials selected for their seeds, " + "; ".join(
            f"{d.optimizer} " + " and ".join(w for w in (f"diverged in {d.final_diverged}" if d.final_diverged else "",
                                                         f"failed in {d.final_failed}" if d.final_failed else "") if w)
            + f" of {d.final_trials}" for d in final_div) + "."
    else:
        text = "No selected trial diverged."
    shares = {d.optimizer: d.diverged / d.trials for d in a.divergence.values() if d.trials}
    if shares and max(shares.values()) > 0:
        top = max(shares.values())
        lead = sorted(o for o, v in shares.items() if v == top)
        d = a.divergence[lead[0]]
        text += f" Largest share of diverged trials: {top:.0%} ({d.diverged} of {d.trials}), for {_names(lead)}."
    else:
        text += " No trial diverged."
    failed = sum(d.failed for d in a.divergence.values())
    if failed:
        text += f" {failed} trial{'s' if failed != 1 else ''} raised an error (the tracebacks are in the report)."
    out.append(("Divergence", text))
    out.append(("Caveat", _caveat(a, config)))
    return out


def _caveat(a: Analysis, config: Mapping[str, Any] | None) -> str:
    mode = (config or {}).get("mode")
    seeds = max((len(s.seeds) for r in a.rankings.values() for s in r), default=0)
    epochs = sorted({r["epochs"] for ranked in a.rankings.values() for s in ranked for r in s.records})
    budget = (f"{epochs[0]} epoch{'s' if epochs[0] != 1 else ''}" if len(epochs) == 1
              else f"{epochs[0]} to {epochs[-1]} epochs") if epochs else "no trial"
    how = {"external": f"AlgoPerf's external-tuning ruleset: per optimizer {seeds} studies of quasirandom trials over "
                       "its learning rate and main hyper-parameters (each study from its own seed)",
           "defaults": f"AlgoPerf's self-tuning ruleset: every optimizer at its defaults, {seeds} seeds, 1.5 times "
                       "the budget",
           "lr-grid": f"DeepOBS's protocol: the learning rate tuned on a grid, the best rerun with {seeds} seeds; "
                      "every other hyper-parameter at its default"}.get(a.tuning, a.tuning)
    text = (f"{'Mode ' + mode + ': ' if mode else ''}{how}; {budget}. The intervals cover the variation over "
            f"seeds (and problems, for the overall score) that {seeds} seed{'s' if seeds != 1 else ''} can show, not "
            "other tuning budgets, search spaces or problems.")
    if mode == "quick":
        text += (" Short budgets favour optimizers that make fast progress early; rerun with --full before drawing "
                 "firm conclusions.")
    text += (" Deterministic (the same command on the same machine gives the same numbers): steps to target, every "
             "metric, the step-based scores, speed-ups and intervals, and this text. Not deterministic: seconds, and "
             "so the seconds-based scores. Conclusions hold for these problems and budgets: others may rank the "
             "optimizers differently (Schmidt, Schneider & Hennig 2021 found no optimizer that dominates across tasks).")
    return text
