"""``sgdlab compare``: which optimizer should I use? Tune, rerun, store, report.

:func:`compare` is the whole job as a function (what the command runs); ``cli_compare`` is its
typer function, one layer: it splits the comma-separated options and calls :func:`compare`. See
:mod:`sgdlab.compare.protocol` for the protocol, :mod:`sgdlab.compare.store` for the results store
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

from .._validation import Bool, Instance, argument_error, validate

_PATH = Instance(str, os.PathLike, what="a path")

DEFAULT_STORE = "sgdlab-results.sqlite"
DEFAULT_OUT = "sgdlab-report"


@dataclass
class CompareOutput:
    """What :func:`compare` wrote and found."""

    html: Path
    markdown: Path
    records: list[dict[str, Any]]
    ran: int
    reused: int
    recommendation: list[tuple[str, str]]


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
def compare(*, mode: str = "quick", problems: list[str] | None = None, optimizers: list[str] | None = None,
            seeds: int | None = None, grid: list[float] | None = None, convention: str = "paper",
            jobs: int | None = None, store: str | Path = DEFAULT_STORE, out: str | Path = DEFAULT_OUT,
            animations: bool = True, progress: bool = True) -> CompareOutput:
    """Run (or resume) the comparison and write ``report.html`` and ``summary.md`` into ``out``.

    Defaults: every problem of :mod:`sgdlab.problems` and every optimizer of
    :func:`sgdlab.optim.available`, the ``mode``'s grid and seeds, as many worker processes as cores.
    """
    import torch

    import sgdlab
    from .. import optim
    from .. import problems as registry
    from .analysis import analyze, recommend
    from .report import write_report
    from .runner import run_compare, settings
    from .store import Store

    # checked before the store is opened: a mistyped name leaves no file behind
    plan = settings(registry.available() if problems is None else problems,
                    optim.available() if optimizers is None else optimizers, mode=mode, seeds=seeds,
                    grid=grid, convention=convention, jobs=jobs)
    started = time.perf_counter()
    with Store(store, name="store") as db:
        result = run_compare(db, list(plan.problems), plan.optimizers, mode=plan.mode, seeds=plan.seeds,
                             grid=plan.lrs, convention=plan.convention, jobs=plan.jobs, progress=progress)
    config = {
        "mode": plan.mode, "optimizers": ", ".join(plan.optimizers),
        "learning-rate grid": ", ".join(f"{lr:g}" for lr in plan.lrs), "seeds": plan.seeds,
        "convention": plan.convention, "jobs": plan.jobs, "store": str(Path(store).resolve()),
        "trials run now": f"{result.ran} ({result.reused} more from the store)",
        "run time": f"{time.perf_counter() - started:.0f} s (trials only)",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sgdlab": sgdlab.__version__, "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
                   f"Python {platform.python_version()}",
    }
    html, md = write_report(result.records, result.problems, out, config=config, animations=animations)
    recommendation = recommend(analyze(result.records, result.problems), config)
    return CompareOutput(html=html, markdown=md, records=result.records, ran=result.ran,
                         reused=result.reused, recommendation=recommendation)


def cli_compare(
    quick: Annotated[bool, typer.Option(
        "--quick/--full", help="--quick (default): short budgets, a grid of 5 learning rates (1e-4..1), "
        "2 seeds, under 10 minutes on 2 cores. --full: DeepOBS's grid of 36 learning rates (1e-5..1e2) "
        "and 10 seeds.")] = True,
    problems: Annotated[str | None, typer.Option(
        help="Comma-separated problem names (default: all; see sgdlab.problems), or libsvm:PATH for a "
        "LIBSVM file.")] = None,
    optimizers: Annotated[str | None, typer.Option(
        help="Comma-separated optimizer names (default: all 14).")] = None,
    seeds: Annotated[int | None, typer.Option(
        help="Seeds at the selected learning rate (default: 2 quick, 10 full).")] = None,
    grid: Annotated[str | None, typer.Option(
        help="Comma-separated learning rates, instead of the mode's grid.")] = None,
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
    """Which optimizer should I use? Tune every optimizer on every benchmark problem, rerun the best
    learning rate with several seeds, and write an HTML report and a Markdown summary."""
    try:
        output = compare(mode="quick" if quick else "full", problems=_split(problems),
                         optimizers=_split(optimizers), seeds=seeds, grid=_parse_grid(grid),
                         convention=convention, jobs=jobs, store=store, out=out, animations=animations)
    except KeyboardInterrupt:
        typer.echo(f"\nInterrupted. Every finished trial is in {store}: run the same command again to "
                   "resume.", err=True)
        raise typer.Exit(130) from None
    typer.echo(f"{len(output.records)} trials ({output.ran} run now, {output.reused} from {store}).")
    for topic, text in output.recommendation[:1]:
        typer.echo(f"\n{text}\n")
    typer.echo(f"Report:  {output.html}\nSummary: {output.markdown}")
