"""The report of ``sgdlab compare``: a self-contained HTML page and a Markdown summary.

:func:`write_report` turns trial records (the results store's dicts) and the problems into

* ``report.html``: one file, CSS inline, every figure and animation embedded as a base64 data URI, no
  request to anything outside it; sections: the run's configuration, "Which optimizer should I
  use?", your problems first and then the built-in ones (description, ranking table with bootstrap
  intervals and the best trial's hyper-parameters, learning curves with seed bands and the
  learning-rate sensitivity), AlgoPerf's performance profiles (steps and seconds) with the scores,
  their intervals and the speed-ups over the baseline, the search spaces, the calibrated targets,
  robustness to the learning rate (``lr-grid``), divergence, the lab's Beale and saddle animations,
  and the trials that failed, with their tracebacks;
* ``summary.md``: the same tables and text in Markdown, with the PNG figures (and GIFs) written beside
  it and linked.

All numbers come from :mod:`sgdlab.compare.analysis`; docs/compare.md explains how to read them.
Figures are drawn on bare matplotlib ``Figure`` objects with the Agg canvas (no pyplot state).
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .. import optim
from .._validation import Bool, Instance, argument_error, check, validate
from ..problems.base import Problem, finite_target
from .analysis import REL_TOL, Analysis, PairSummary, analyze, lr_of
from .baseline import BASELINE
from .scoring import R_MAX
from .verdict import recommend, span

#: The lab scenes shown as animations, and how small their GIFs are kept.
ANIMATIONS = ("beale", "saddle")
ANIMATION_FRAMES = 24
ANIMATION_DPI = 80
FIGURE_DPI = 100


# ---------------------------------------------------------------------------------------------------
# Styles: one colour and line style per optimizer, the same in every figure


def optimizer_styles(optimizers: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A colour and a line style per optimizer: the lab's colours (:data:`sgdlab.lab.figures.COLORS`,
    so an optimizer looks the same in the animations) and tab20 for names it lacks; the optimizers of
    the survey's animations solid, the others dashed, so that 14 lines stay apart."""
    from ..lab.figures import COLORS, SURVEY_OPTIMIZERS

    used = set(COLORS.values())
    spare = iter(c for c in colormaps["tab20"].colors if c not in used)
    styles = {}
    for name in optimizers:
        if name == BASELINE:  # the reference: black, dash-dotted, a little heavier
            styles[name] = {"color": "#000000", "linestyle": "-.", "lw": 2.0}
            continue
        color = COLORS.get(name) or next(spare, "#444444")
        styles[name] = {"color": color, "linestyle": "-" if name in SURVEY_OPTIMIZERS else "--"}
    return styles


def _order(optimizers: Iterable[str]) -> list[str]:
    """sgdlab's own order (``optim.available()``), unknown names after it alphabetically, the
    baseline last."""
    known = list(optim.available())
    names = set(optimizers)
    rest = sorted(names - set(known) - {BASELINE})
    return [n for n in known if n in names] + rest + ([BASELINE] if BASELINE in names else [])


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=FIGURE_DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return buffer.getvalue()


def _use_log(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() > 30


# ---------------------------------------------------------------------------------------------------
# Figures


def _kw(style: Mapping[str, Any], lw: float) -> dict[str, Any]:
    """The matplotlib keywords of an optimizer's style, its line width ``lw`` unless it has its own."""
    return {"color": style["color"], "linestyle": style["linestyle"], "lw": style.get("lw", lw)}


def _curve_panel(ax, problem: Problem, ranking: Sequence[PairSummary], styles) -> None:
    """Validation metric against epoch: each seed's selected trial, the mean over the seeds, a band
    from the lowest to the highest seed."""
    everything, means = [], []
    for s in sorted(ranking, key=lambda s: _order(styles).index(s.optimizer)):
        runs = [r["history"] for r in s.final_records if r["history"]]
        if not runs:
            continue
        longest = max(runs, key=len)
        epochs = np.array([e["epoch"] for e in longest])
        table = np.full((len(runs), len(longest)), np.nan)
        for i, h in enumerate(runs):
            table[i, : len(h)] = [np.nan if e["val_metric"] is None else e["val_metric"] for e in h]
        table[~np.isfinite(table)] = np.nan
        keep = np.isfinite(table).any(axis=0)
        mean = np.nanmean(table[:, keep], axis=0)
        lo, hi = np.nanmin(table[:, keep], axis=0), np.nanmax(table[:, keep], axis=0)
        st = styles[s.optimizer]
        ax.plot(epochs[keep], mean, **_kw(st, 1.6))
        means.append(mean[np.isfinite(mean)])
        if len(runs) > 1:  # lighter when many bands overlap
            ax.fill_between(epochs[keep], lo, hi, color=st["color"], alpha=0.12 if len(ranking) <= 6 else 0.06, lw=0)
        for r in s.final_records:
            if r["status"] != "ok" and r["history"]:
                last = r["history"][-1]
                if last["val_metric"] is not None and math.isfinite(last["val_metric"]):
                    ax.plot([last["epoch"]], [last["val_metric"]], marker="x", ms=7, mew=2,
                            color=st["color"], linestyle="none")
        everything.append(table[np.isfinite(table)])
    values = np.concatenate(everything) if everything else np.array([])
    target = problem.target if finite_target(problem.target) else None
    if target is not None:
        ax.axhline(target, color="k", ls=(0, (5, 4)), lw=1.1)
    if _use_log(np.append(values, target if target is not None else np.nan)):
        ax.set_yscale("log")
    elif means:
        # the axis spans the mean curves and the target: one seed's outlier band may run off it
        shown = np.concatenate(means + [np.array([target] if target is not None else [])])
        lo, hi = float(shown.min()), float(shown.max())
        pad = 0.08 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set(xlabel="epoch", ylabel=f"validation {problem.metric}",
           title="learning curves of the selected trials (band: the seeds)")
    ax.grid(alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if not everything:
        ax.text(0.5, 0.5, "no finished epoch", transform=ax.transAxes, ha="center", color="0.4")


def _sensitivity_panel(ax, problem: Problem, curves, styles, rel_tol: float, grid: bool) -> None:
    """Final validation metric of the tuning trials against the learning rate (joined by lines on a
    grid); filled markers are within the tolerance of the best, crosses at the worse edge are
    diverged or failed trials."""
    finite = np.array([v for c in curves for v in c.values if v is not None], dtype=float)
    target = problem.target if finite_target(problem.target) else np.nan
    log = _use_log(np.append(finite, target))
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        if log:
            lo, hi = lo / 1.6, hi * 1.6
        else:
            pad = 0.08 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1.0)
            lo, hi = lo - pad, hi + pad
    else:
        lo, hi = (target - 1, target + 1) if math.isfinite(target) else (0.0, 1.0)
        log = False
    worse_edge = lo if problem.higher_is_better else hi
    for c in sorted(curves, key=lambda c: _order(styles).index(c.optimizer)):
        st = styles[c.optimizer]
        lrs = np.array(c.lrs)
        vals = np.array([np.nan if v is None else v for v in c.values], dtype=float)
        if grid:
            ax.plot(lrs, vals, alpha=0.9, **_kw(st, 1.2))
        good = np.array(c.good, dtype=bool)
        ok = np.isfinite(vals)
        ax.plot(lrs[good], vals[good], marker="o", ms=5, color=st["color"], linestyle="none")
        ax.plot(lrs[ok & ~good], vals[ok & ~good], marker="o", ms=5, mfc="white", color=st["color"],
                linestyle="none")
        ax.plot(lrs[~ok], np.full((~ok).sum(), worse_edge), marker="x", ms=7, mew=2,
                color=st["color"], linestyle="none", clip_on=False)
    if math.isfinite(target):
        ax.axhline(target, color="k", ls=(0, (5, 4)), lw=1.1)
    if finite.size:
        best = float(finite.max() if problem.higher_is_better else finite.min())
        bound = best - rel_tol * abs(best) if problem.higher_is_better else best + rel_tol * abs(best)
        ax.axhline(bound, color="0.35", ls=":", lw=1.1)
    ax.set_xscale("log")
    if log:
        ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ax.set(xlabel="learning rate", ylabel=f"final validation {problem.metric}",
           title="every tuning trial: final validation metric against its learning rate")
    ax.grid(alpha=0.3)
    if not curves:
        ax.text(0.5, 0.5, "no tuning trial", transform=ax.transAxes, ha="center", color="0.4")


def problem_figure(problem: Problem, analysis: Analysis, styles: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Learning curves (left) and learning-rate sensitivity (right) of one problem, one legend."""
    ranking = analysis.rankings.get(problem.name, [])
    curves = [c for (p, _), c in analysis.sensitivity.items() if p == problem.name]
    fig = _figure(14.0, 4.6)
    left, right = fig.subplots(1, 2)
    _curve_panel(left, problem, ranking, styles)
    _sensitivity_panel(right, problem, curves, styles, analysis.rel_tol, analysis.tuning == "lr-grid")
    names = _order(s.optimizer for s in ranking)
    handles = [Line2D([], [], **_kw(styles[n], 1.8)) for n in names]
    labels = []
    for n in names:
        s = analysis.summary(problem.name, n)
        labels.append(f"{n} (lr {s.lr:.3g})" if s is not None and s.lr is not None else n)
    handles += [Line2D([], [], color="k", ls=(0, (5, 4))), Line2D([], [], color="0.35", ls=":"),
                Line2D([], [], marker="x", mew=2, color="0.3", ls="none")]
    target = f"target {problem.target:g}" + (" (calibrated)" if problem.target_calibrated else "")
    labels += [target, f"within {analysis.rel_tol:.0%} of best", "diverged / failed"]
    # Fixed margins and the legend in the space they leave on the right (tight_layout does not make
    # room for a figure legend).
    fig.subplots_adjust(left=0.055, right=0.845, bottom=0.12, top=0.92, wspace=0.2)
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.855, 0.5), fontsize=8.5 if len(names) < 18 else 7.5,
               frameon=False, borderaxespad=0)
    return fig


def _offset_step(problems: int, optimizers: int) -> float:
    """The vertical offset between neighbouring lines of the profile plot. Optimizers often tie (the
    same steps, or never): about 2 pixels between neighbours keeps each line visible, and all the
    offsets together stay within a quarter of the step 1/n between levels of rho."""
    return min(0.006, 0.25 / max(problems, 1) / max(optimizers, 1))


def profile_figure(analysis: Analysis, styles: Mapping[str, Mapping[str, Any]]) -> Figure:
    """rho_s(tau) for tau in [1, r_max]: steps to target (left), seconds (right); one step line per
    optimizer, the legend by the score the verdict rests on, with its interval."""
    fig = _figure(14.0, 5.0)
    axes = fig.subplots(1, 2, sharey=True)
    ranked = analysis.ranked_scores()
    order = [o for o, _ in ranked]
    for ax, (by, prof) in zip(axes, (("steps", analysis.profile), ("seconds", analysis.profile_seconds))):
        taus = np.linspace(1.0, prof.r_max, 601)
        rho = prof.rho(taus)
        step = _offset_step(len(prof.problems), len(order))
        for k, name in enumerate(order):
            offset = step * (k - (len(order) - 1) / 2)
            ax.plot(taus, rho[prof.optimizers.index(name)] + offset, drawstyle="steps-post", **_kw(styles[name], 1.6))
        ax.set(xlim=(1.0, prof.r_max), ylim=(-0.06, 1.06), xlabel=rf"$\tau$ ({by} to target / fastest's)",
               title=f"{by} to target" + (" (the verdict's)" if by == analysis.score_by else ""))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$\rho_s(\tau)$: fraction of problems")
    handles = [Line2D([], [], **_kw(styles[n], 1.8)) for n in order]
    labels = [f"{n}  {sc.value:.3f} {span(sc.interval, lambda v: f'{v:.2f}')}" for n, sc in ranked]
    fig.subplots_adjust(left=0.05, right=0.79, bottom=0.12, top=0.9, wspace=0.08)
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.80, 0.5), fontsize=8.5 if len(order) < 18 else 7.5,
               frameon=False, borderaxespad=0, title=f"score ({analysis.score_by}) [{analysis.confidence:.0%} interval]",
               title_fontsize=8.5)
    fig.suptitle(f"performance profiles over {len(analysis.profile.problems)} problems", fontsize=11)
    return fig


# ---------------------------------------------------------------------------------------------------
# Formatting


def _g(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}g}"


def _steps(value: float | None) -> str:
    if value is None or math.isinf(value):
        return "never"
    if math.isnan(value):
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _seconds(value: float | None) -> str:
    if value is None or math.isinf(value):
        return "never"
    return "—" if math.isnan(value) else f"{value:.3g} s"


def _config_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        items = [_config_value(v) for v in value]
        if len(items) > 8:
            return f"{len(items)} values from {items[0]} to {items[-1]}"
        return ", ".join(items)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_config_value(v)}" for k, v in value.items())
    return str(value)


def _hparam(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_hparam(v) for v in value) + ")"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def searched_names(optimizer: str, convention: str, tuning: str) -> tuple[str, ...]:
    """The hyper-parameters a ruleset tunes for ``optimizer``: the search space's (external), the
    learning rate (lr-grid), none (defaults)."""
    if tuning == "lr-grid":
        return ("lr",)
    if tuning != "external":
        return ()
    from .protocol import optimizer_defaults
    from .search import search_space

    try:
        return search_space(optimizer, optimizer_defaults(optimizer, convention)).searched
    except Exception:  # noqa: BLE001 - an optimizer this sgdlab does not know (a store of a newer one)
        return ()


def _best_hparams(s: PairSummary) -> str:
    if s.best is None:
        return "—"
    names = searched_names(s.optimizer, s.best.get("convention", "paper"), s.tuning)
    if not names:
        return "defaults"
    values = s.hparams
    return ", ".join(f"{n} {_hparam(values[n])}" for n in names if n in values)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _what_happened(r: Mapping[str, Any]) -> str:
    """One line: the error's last line, or "non-finite loss in epoch k"."""
    if r.get("error"):
        lines = [line for line in str(r["error"]).strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else "error"
    if r["status"] == "diverged":
        done = len(r.get("history") or [])
        return f"non-finite loss in epoch {done + 1}"
    return r["status"]


def _ranking_rows(ranking: Sequence[PairSummary]) -> list[dict[str, str]]:
    rows = []
    for i, s in enumerate(ranking, start=1):
        test = "—" if s.test_mean is None else _g(s.test_mean) + (
            "" if s.test_std is None else f" ± {_g(s.test_std, 2)}")
        failed = f" (+{s.trials_failed} failed)" if s.trials_failed else ""
        rows.append({"rank": str(i), "optimizer": s.optimizer, "test": test,
                     "test_interval": "—" if s.test_mean is None else span(s.test_interval, _g),
                     "steps": _steps(s.steps), "steps_interval": span(s.steps_interval, _steps),
                     "seconds": _seconds(s.seconds), "seconds_interval": span(s.seconds_interval, _seconds),
                     "seeds": f"{s.finished}/{len(s.seeds)}", "diverged": f"{s.trials_diverged}/{s.trials}{failed}",
                     "hparams": _best_hparams(s), "status": s.status})
    return rows


def _calibration_rows(problem: Problem, records: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Per calibration optimizer: its tuned learning rate, final validation metric and held level."""
    from ..problems.calibrate import held_level

    rows = []
    for opt in dict.fromkeys(r["optimizer"] for r in records):
        runs = [r for r in records if r["optimizer"] == opt and r["status"] == "ok" and r["history"]]
        if not runs:
            rows.append({"optimizer": opt, "lr": "—", "final": "diverged", "held": "—"})
            continue
        sign = 1.0 if problem.higher_is_better else -1.0
        best = max(runs, key=lambda r: sign * (r["history"][-1]["val_metric"] or -sign * math.inf))
        curve = [e["val_metric"] for e in best["history"]]
        rows.append({"optimizer": opt, "lr": _g(lr_of(best), 3), "final": _g(curve[-1]),
                     "held": _g(held_level(curve, problem.higher_is_better))})
    return rows


def _context(analysis: Analysis, config: Mapping[str, Any] | None, figures: Mapping[str, tuple[str, bytes]],
             animations: Sequence[dict[str, Any]], records: Sequence[Mapping[str, Any]],
             calibration: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    a = analysis
    yours = a.user_problems
    problems = []
    for name in [*yours, *(p for p in a.rankings if p not in yours)]:
        ranking = a.rankings[name]
        p = a.problems[name]
        budgets = sorted({(r["epochs"], r["batch_size"]) for s in ranking for r in s.records}, key=repr)
        budget = "; ".join(f"{e} epochs, " + ("full batch" if b is None else f"batch {b}") for e, b in budgets)
        file, png = figures[f"problem:{name}"]
        target = _g(p.target) if finite_target(p.target) else "none (every calibration run diverged)"
        problems.append({
            "name": name, "anchor": _slug(name), "title": p.title, "description": p.description,
            "yours": name in yours, "calibrated": p.target_calibrated,
            "metric": p.metric, "direction": "higher is better" if p.higher_is_better else "lower is better",
            "target": target, "tags": ", ".join(p.tags), "budget": budget,
            "rows": _ranking_rows(ranking), "figure": _data_uri(png, "image/png"), "figure_file": file,
            "calibration": _calibration_rows(p, [r for r in calibration if r["problem"] == name])
            if p.target_calibrated else [],
        })
    prof = a.profile
    reached = prof.reached()
    profile_rows = []
    for opt, sc in a.ranked_scores():
        j = prof.optimizers.index(opt)
        cells = []
        for i, _ in enumerate(prof.problems):
            t, r = prof.times[i, j], prof.ratios[i, j]
            cells.append("never" if not math.isfinite(t) else f"{_steps(t)} ({r:.2f}×)" if math.isfinite(r)
                         else f"{_steps(t)} (> {prof.r_max:g}×)")
        seconds = a.scores["seconds"][opt]
        speed = a.speedup.get(opt)
        profile_rows.append({
            "optimizer": opt, "score": f"{a.scores['steps'][opt].value:.3f}",
            "score_interval": span(a.scores["steps"][opt].interval, lambda v: f"{v:.3f}"),
            "seconds": f"{seconds.value:.3f}", "seconds_interval": span(seconds.interval, lambda v: f"{v:.3f}"),
            "speedup": "—" if speed is None else f"{speed.value:.2f}×",
            "speedup_interval": "—" if speed is None else span(speed.interval, lambda v: f"{v:.2f}"),
            "reached": f"{reached[opt]}/{len(prof.problems)}", "cells": cells})
    file, png = figures["profile"]
    offset = _offset_step(len(prof.problems), len(prof.optimizers)) * (len(prof.optimizers) - 1) / 2
    tune_problems = list(a.rankings)
    tune_rows = []
    for opt in list(a.tuneability) + sorted(set(a.optimizers) - set(a.tuneability)):
        cells = []
        for p in tune_problems:
            c = a.sensitivity.get((p, opt))
            cells.append("—" if c is None or c.decades is None else f"{c.decades:.2g}")
        tune_rows.append({"optimizer": opt, "mean": _g(a.tuneability.get(opt), 2), "cells": cells})
    div_rows = [{"optimizer": d.optimizer,
                 "tuning": f"{d.tuning_diverged}/{d.tuning_trials}",
                 "final": f"{d.final_diverged}/{d.final_trials}",
                 "failed": str(d.failed), "total": f"{d.diverged + d.failed}/{d.trials}"}
                for d in sorted(a.divergence.values(),
                                key=lambda d: (-(d.diverged + d.failed) / max(d.trials, 1), d.optimizer))]
    failures = [{"problem": r["problem"], "optimizer": r["optimizer"], "lr": _g(lr_of(r), 3),
                 "seed": str(r["seed"]), "phase": str(r.get("phase", "")), "status": r["status"],
                 "what": _what_happened(r), "traceback": str(r.get("error") or "")} for r in a.failures]
    errors = [f for f in failures if f["status"] == "error"]
    spaces = []
    if a.tuning == "external":
        from .protocol import optimizer_defaults
        from .search import search_space

        convention = {s.optimizer: s.best.get("convention", "paper") for r in a.rankings.values() for s in r
                      if s.best is not None}
        for opt in _order(a.optimizers):
            try:
                spaces.append({"optimizer": opt, "space": search_space(opt, optimizer_defaults(
                    opt, convention.get(opt, "paper"))).describe()})
            except Exception:  # noqa: BLE001 - an optimizer this sgdlab does not know
                spaces.append({"optimizer": opt, "space": "—"})
    config_rows = [(str(k), _config_value(v)) for k, v in (config or {}).items()]
    counts = {"trials": len(records), "problems": len(a.rankings), "optimizers": len(a.optimizers),
              "diverged": sum(r["status"] == "diverged" for r in records),
              "errors": sum(r["status"] == "error" for r in records), "yours": len(yours)}
    return {
        "config": config_rows, "counts": counts, "tuning": a.tuning, "score_by": a.score_by,
        "confidence": f"{a.confidence:.0%}", "draws": a.draws,
        "recommendation": recommend(a, config),
        "problems": problems,
        "profile": {"figure": _data_uri(png, "image/png"), "figure_file": file,
                    "problems": list(prof.problems), "rows": profile_rows, "r_max": f"{prof.r_max:g}",
                    "offset": f"{offset:.2g}"},
        "spaces": spaces,
        "tuneability": {"problems": tune_problems, "rows": tune_rows, "rel_tol": f"{a.rel_tol:.0%}",
                        "shown": a.tuning == "lr-grid"},
        "divergence": div_rows,
        "animations": list(animations),
        "failures": failures, "errors": errors,
        "missing": [p for p in a.problems if p not in a.rankings],
    }


# ---------------------------------------------------------------------------------------------------
# Animations and the whole report


def _animation(name: str, out: Path) -> dict[str, Any]:
    """A small GIF of the lab's scene ``name`` (its survey optimizers and learning rates)."""
    from ..lab import figures as lab_figures
    from ..lab.functions import get

    lab_figures.animate(name, out=out, max_frames=ANIMATION_FRAMES, dpi=ANIMATION_DPI)
    scene = lab_figures.SCENES.get(name, {})
    rates = ", ".join(f"{k} {v:g}" for k, v in scene.get("lr", {}).items())
    description = get(name).description.rstrip(". ")
    caption = f"{description}. Learning rates: {rates}; {scene.get('steps', 300)} steps."
    return {"name": name, "file": out.name, "caption": caption,
            "uri": _data_uri(out.read_bytes(), "image/gif")}


def _environment() -> Environment:
    return Environment(loader=PackageLoader("sgdlab.compare", "templates"),
                       autoescape=lambda name: bool(name) and name.endswith(".html.jinja"),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


@validate(animations=Bool())
def write_report(records: Iterable[Mapping[str, Any]], problems: Iterable[Problem] | Mapping[str, Problem],
                 out_dir: str | Path, *, config: Mapping[str, Any] | None = None,
                 animations: bool = True, r_max: float = R_MAX, rel_tol: float = REL_TOL,
                 score_by: str = "steps", calibration: Sequence[Mapping[str, Any]] = ()) -> tuple[Path, Path]:
    """Write ``report.html`` and ``summary.md`` (and the figures beside them) into ``out_dir``.

    Args:
        records: the trial records (the results store's dicts) of one run of the protocol.
        problems: the :class:`~sgdlab.problems.base.Problem` objects the records refer to.
        out_dir: the folder to write into (created if needed).
        config: what the run was (mode, ruleset, seeds, date, versions, machine…), shown as given.
        animations: include the lab's Beale and saddle animations (a few seconds to draw).
        r_max, rel_tol, score_by: see :func:`sgdlab.compare.analysis.analyze`.
        calibration: the calibration trials of the problems whose targets were calibrated
            (``CompareResult.calibration``), shown with their targets.

    Returns:
        The paths of ``report.html`` and ``summary.md``.

    Example:
        >>> import tempfile
        >>> from sgdlab.problems.base import Budget, Problem
        >>> quad = Problem("quad", "Quadratic", "A quadratic.", "loss", False, 0.5, Budget(2, None),
        ...                Budget(2, None), builder=lambda seed: None)
        >>> def trial(opt, lr, losses, status="ok"):
        ...     history = [{"epoch": e + 1, "updates": e + 1, "train_loss": v, "val_loss": v,
        ...                 "val_metric": v, "time": 0.1} for e, v in enumerate(losses)]
        ...     done = status == "ok"
        ...     return {"key": f"{opt}{lr}", "problem": "quad", "optimizer": opt, "lr": lr, "seed": 0,
        ...             "epochs": 2, "batch_size": None, "convention": "paper", "phase": "tune",
        ...             "status": status, "error": None, "history": history,
        ...             "final_val_metric": losses[-1] if done else None,
        ...             "final_test_metric": losses[-1] if done else None, "final_test_loss": None}
        >>> records = [trial("sgd", 0.1, [0.9, 0.6]), trial("sgd", 1.0, [0.7], "diverged"),
        ...            trial("adam", 0.01, [0.6, 0.3]), trial("adam", 0.1, [0.5, 0.4])]
        >>> html, md = write_report(records, [quad], tempfile.mkdtemp(), config={"mode": "quick"},
        ...                         animations=False)
        >>> print(md.read_text().split("(`quad`)")[1].split("![")[0].strip().splitlines()[-2])
        | 1 | adam | 0.3 | [0.3, 0.3] | 2 | [2, 2] | 0.1 s | 1/1 | 0/2 | lr 0.01 |
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise argument_error("out_dir", str(out), "a folder, not a file")
    check("config", config, Instance(Mapping, what="a dict"), None)
    records = list(records)
    analysis = analyze(records, problems, r_max=r_max, rel_tol=rel_tol, score_by=score_by)
    calibration = list(calibration)
    out.mkdir(parents=True, exist_ok=True)
    styles = optimizer_styles(_order(analysis.optimizers))
    figures: dict[str, tuple[str, bytes]] = {}
    for name in analysis.rankings:
        fig = problem_figure(analysis.problems[name], analysis, styles)
        figures[f"problem:{name}"] = (f"problem_{_slug(name)}.png", _png(fig))
    figures["profile"] = ("performance_profile.png", _png(profile_figure(analysis, styles)))
    for file, png in figures.values():
        (out / file).write_bytes(png)
    clips = [_animation(name, out / f"{name}.gif") for name in ANIMATIONS] if animations else []
    context = _context(analysis, config, figures, clips, records, calibration)
    env = _environment()
    env.filters["md"] = _md_cell
    html = out / "report.html"
    html.write_text(env.get_template("report.html.jinja").render(**context), encoding="utf-8")
    md = out / "summary.md"
    md.write_text(env.get_template("summary.md.jinja").render(**context), encoding="utf-8")
    return html, md
