"""``sgdlab compare``: which optimizer should I use, for my model? Tune, store, score, report.

:func:`compare` is the whole job as a function (what the command runs); ``cli_compare`` is its
typer function, one layer: it splits the comma-separated options and calls :func:`compare`. See
:mod:`sgdlab.compare.protocol` for the rulesets, :mod:`sgdlab.compare.store` for the results store
and :mod:`sgdlab.compare.report` for the report.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer

from .._validation import Bool, Instance, Options, argument_error, check, validate

_PATH = Instance(str, os.PathLike, what="a path")

DEFAULT_STORE = "sgdlab-results.sqlite"
DEFAULT_OUT = "sgdlab-report"


@dataclass
class CompareOutput:
    """What :func:`compare` wrote and found: the report's paths, the records, how many trials ran now
    and how many came from the store, the verdict, and the problems (targets calibrated where they had
    none)."""

    html: Path
    markdown: Path
    records: list[dict[str, Any]]
    ran: int
    reused: int
    recommendation: list[tuple[str, str]]
    problems: list[Any]


def _split(text: str | None) -> list[str] | None:
    """``"a, b,"`` -> ``["a", "b"]`` (a comma-separated option); None stays None."""
    if text is None:
        return None
    return [x.strip() for x in text.split(",") if x.strip()]


def _parse_grid(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in _split(text) or []]
    except ValueError:
        raise argument_error("grid", text, "comma-separated learning rates, e.g. 1e-3,1e-2") from None


@validate(store=_PATH, out=_PATH, animations=Bool(), progress=Bool())
def compare(*, mode: str = "quick", tuning: str = "external", problems: list[Any] | None = None,
            optimizers: str | list[str] | None = None, seeds: int | None = None, trials: int | None = None,
            grid: list[float] | None = None, convention: str = "paper", jobs: int | None = None,
            score_by: str = "steps", store: str | Path = DEFAULT_STORE, out: str | Path = DEFAULT_OUT,
            animations: bool = True, progress: bool = True) -> CompareOutput:
    """Run (or resume) the comparison and write ``report.html`` and ``summary.md`` into ``out``.

    ``problems``: names, ``libsvm:PATH``, ``FILE.py[:ATTR]``, ``MODULE:ATTR`` or
    :class:`~sgdlab.problems.base.Problem` objects (default: the 9 problems of :mod:`sgdlab.problems`).
    ``optimizers``: ``"quick"``, ``"survey"``, ``"modern"``, ``"all"`` or a list of names (default:
    ``sgdlab.optim.QUICK`` in quick mode, all in full mode); the baseline always runs too. ``tuning``:
    ``"external"``, ``"defaults"`` or ``"lr-grid"`` (:mod:`sgdlab.compare.protocol`), with ``seeds``
    (studies, runs or rerun seeds), ``trials`` (per study, external) and ``grid`` (lr-grid).
    ``score_by``: the AlgoPerf score the verdict rests on, ``"steps"`` (deterministic) or
    ``"seconds"``. ``jobs``: worker processes (default: as many as cores).
    """
    import torch

    import sgdlab
    from .. import problems as registry
    from .analysis import SCORE_BY, analyze
    from .protocol import effective_convention
    from .report import write_report
    from .runner import run_compare, settings
    from .store import Store
    from .verdict import recommend

    score_by = check("score_by", score_by, Options(*SCORE_BY))
    # checked (and the problems built once) before the store is opened: a mistake leaves no file behind
    plan = settings(registry.available() if problems is None else problems,
                    ("quick" if mode == "quick" else "all") if optimizers is None else optimizers, mode=mode,
                    tuning=tuning, seeds=seeds, trials=trials, grid=grid, convention=convention, jobs=jobs)
    started = time.perf_counter()
    with Store(store, name="store") as db:
        result = run_compare(db, list(plan.problems.values()), list(plan.optimizers), mode=plan.mode,
                             tuning=plan.tuning, seeds=plan.seeds, trials=plan.trials, grid=plan.lrs,
                             convention=plan.convention, jobs=plan.jobs, progress=progress)
    ran_for = time.perf_counter() - started
    repeats = {"external": f"{plan.seeds} studies x {plan.trials} quasirandom trials (study s from seed s)",
               "defaults": f"{plan.seeds} seeds at the defaults, 1.5 x the budget",
               "lr-grid": f"{len(plan.lrs)} learning rates (seed 0), the best rerun to {plan.seeds} seeds"}[plan.tuning]
    paper_only = [o for o in plan.optimizers if effective_convention(o, plan.convention) != plan.convention
                  and o != "baseline"]
    config: dict[str, Any] = {
        "mode": plan.mode, "tuning": plan.tuning, "trials per optimizer x problem": repeats,
        "optimizers": ", ".join(plan.optimizers),
        "convention": plan.convention + (f" ({', '.join(paper_only)}: paper, their only one)" if paper_only else ""),
        "verdict by": f"AlgoPerf score of the {score_by} to target",
    }
    if plan.tuning == "lr-grid":
        config["learning-rate grid"] = ", ".join(f"{lr:g}" for lr in plan.lrs)
    config.update({
        "jobs": plan.jobs, "store": str(Path(store).resolve()),
        "trials run now": f"{result.ran} ({result.reused} more from the store)",
        "run time": f"{ran_for:.0f} s (trials only)",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sgdlab": sgdlab.__version__, "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
                   f"Python {platform.python_version()}",
    })
    html, md = write_report(result.records, result.problems, out, config=config, animations=animations,
                            score_by=score_by, calibration=result.calibration)
    recommendation = recommend(analyze(result.records, result.problems, score_by=score_by), config)
    return CompareOutput(html=html, markdown=md, records=result.records, ran=result.ran,
                         reused=result.reused, recommendation=recommendation, problems=result.problems)


def cli_compare(
    quick: Annotated[bool, typer.Option(
        "--quick/--full", help="--quick (default): the problems' short budgets, sgdlab.optim.QUICK's optimizers, "
        "3 studies x 3 trials, under 10 minutes on 2 cores. --full: long budgets, every optimizer, 3 studies x 5 "
        "trials (AlgoPerf's 5).")] = True,
    tuning: Annotated[str, typer.Option(
        help="external (default): AlgoPerf's external tuning, quasirandom search over the learning rate and "
        "the main hyper-parameters; defaults: AlgoPerf's self-tuning, every optimizer at its defaults with "
        "1.5x the budget; lr-grid: DeepOBS's learning-rate grid.")] = "external",
    problem: Annotated[list[str] | None, typer.Option(
        "--problem", "-p", help="A problem: a built-in name (sgdlab.problems), libsvm:PATH, FILE.py[:ATTR] (ATTR "
        "defaults to make_problem: a Problem, a list of them, or a function returning one) or MODULE:ATTR. "
        "Repeatable; default: the 9 built-in problems.")] = None,
    problems: Annotated[str | None, typer.Option(
        help="Comma-separated problems, as --problem.")] = None,
    optimizers: Annotated[str | None, typer.Option(
        help="quick, survey, modern, all, or comma-separated optimizer names (default: quick with --quick, all "
        "with --full). AlgoPerf's NAdamW baseline always runs too.")] = None,
    seeds: Annotated[int | None, typer.Option(
        help="Seeds: the studies of external (3), the runs of defaults (3 quick, 5 full), the reruns of "
        "lr-grid (2 quick, 10 full).")] = None,
    trials: Annotated[int | None, typer.Option(
        help="Trials per study of --tuning external (default: 3 quick, 5 full).")] = None,
    grid: Annotated[str | None, typer.Option(
        help="Comma-separated learning rates for --tuning lr-grid, instead of the mode's grid.")] = None,
    score_by: Annotated[str, typer.Option(
        help="The AlgoPerf score the verdict rests on: steps (default; deterministic) or seconds to target "
        "(both are reported).")] = "steps",
    convention: Annotated[str, typer.Option(
        help="Optimizer convention: paper, torch or keras (defaults of that convention; see "
        "docs/conventions.md).")] = "paper",
    jobs: Annotated[int | None, typer.Option(
        help="Worker processes (default: the number of cores).")] = None,
    store: Annotated[Path, typer.Option(
        help="The SQLite results store: finished trials in it are reused, so an interrupted run "
        "resumes.")] = Path(DEFAULT_STORE),
    out: Annotated[Path, typer.Option(
        help="Folder for report.html, summary.md and the figures.")] = Path(DEFAULT_OUT),
    animations: Annotated[bool, typer.Option(
        "--animations/--no-animations", help="Include the lab's Beale and saddle animations in the "
        "report.")] = True,
) -> None:
    """Which optimizer should I use, for my model? Tune every optimizer and AlgoPerf's NAdamW baseline on
    each problem (yours: --problem my_problems.py:make_problem), score them as AlgoPerf does, with
    bootstrap intervals, and write an HTML report and a Markdown summary."""
    chosen = [*(problem or []), *(_split(problems) or [])] or None
    try:
        output = compare(mode="quick" if quick else "full", tuning=tuning, problems=chosen,
                         optimizers=_split(optimizers), seeds=seeds, trials=trials, grid=_parse_grid(grid),
                         convention=convention, jobs=jobs, score_by=score_by, store=store, out=out,
                         animations=animations)
    except KeyboardInterrupt:
        typer.echo(f"\nInterrupted. Every finished trial is in {store}: run the same command again to "
                   "resume.", err=True)
        raise typer.Exit(130) from None
    typer.echo(f"{len(output.records)} trials ({output.ran} run now, {output.reused} from {store}).")
    for topic, text in output.recommendation[:2 if output.recommendation[0][0] == "Your problems" else 1]:
        typer.echo(f"\n{topic}: {text}\n")
    typer.echo(f"Report:  {output.html}\nSummary: {output.markdown}")
