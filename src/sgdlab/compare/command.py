"""``sgdlab compare``: which optimizer should I use? Tune, rerun, store, report.

:func:`compare` is the whole job as a function (what the command runs); ``cli_compare`` its typer
signature. See :mod:`sgdlab.compare.protocol` for the protocol, :mod:`sgdlab.compare.store` for the
results store and :mod:`sgdlab.compare.report` for the report.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import typer

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
    if text is None:
        return None
    return [x.strip() for x in text.split(",") if x.strip()]


def _parse_grid(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(x) for x in _split(text) or []]
    except ValueError:
        raise ValueError(f"Invalid grid: {text!r} (expected comma-separated learning rates, e.g. 1e-3,1e-2)") from None
    if not values or any(not (v > 0 and v < float("inf")) for v in values):
        raise ValueError(f"Invalid grid: {text!r} (expected learning rates > 0)")
    return values


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
    from . import protocol
    from .analysis import analyze, recommend
    from .report import write_report
    from .runner import run_compare
    from .store import Store

    problems = registry.available() if problems is None else problems
    optimizers = optim.available() if optimizers is None else [o.lower() for o in optimizers]
    lrs = list(protocol.grid(mode) if grid is None else grid)
    seeds = protocol.default_seeds(mode) if seeds is None else seeds
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    started = time.perf_counter()
    with Store(store) as db:
        result = run_compare(db, problems, optimizers, mode=mode, seeds=seeds, grid=lrs,
                             convention=convention, jobs=jobs, progress=progress)
    config = {
        "mode": mode, "optimizers": ", ".join(optimizers),
        "learning-rate grid": ", ".join(f"{lr:g}" for lr in lrs), "seeds": seeds,
        "convention": convention, "jobs": jobs, "store": str(Path(store).resolve()),
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
    quick: bool = typer.Option(True, "--quick/--full", help="--quick (default): short budgets, a grid "
                               "of 5 learning rates (1e-4..1), 2 seeds, under 10 minutes on 2 cores. "
                               "--full: DeepOBS's grid of 36 learning rates (1e-5..1e2) and 10 seeds."),
    problems: str = typer.Option(None, help="Comma-separated problem names (default: all; see "
                                 "sgdlab.problems), or libsvm:PATH for a LIBSVM file."),
    optimizers: str = typer.Option(None, help="Comma-separated optimizer names (default: all 14)."),
    seeds: int = typer.Option(None, min=1, help="Seeds at the selected learning rate (default: 2 quick, 10 full)."),
    grid: str = typer.Option(None, help="Comma-separated learning rates, instead of the mode's grid."),
    convention: str = typer.Option("paper", help="Optimizer convention: paper, torch or keras (defaults "
                                   "of that convention; see docs/conventions.md)."),
    jobs: int = typer.Option(None, min=1, help="Worker processes (default: the number of cores)."),
    store: Path = typer.Option(Path(DEFAULT_STORE), help="The SQLite results store: finished trials "
                               "in it are reused, so an interrupted run resumes."),
    out: Path = typer.Option(Path(DEFAULT_OUT), help="Folder for report.html, summary.md and the figures."),
    animations: bool = typer.Option(True, "--animations/--no-animations",
                                    help="Include the lab's Beale and saddle animations in the report."),
) -> None:
    """Which optimizer should I use? Tune every optimizer on every benchmark problem, rerun the best
    learning rate with several seeds, and write an HTML report and a Markdown summary."""
    from .. import optim
    from .. import problems as registry

    mode = "quick" if quick else "full"
    try:
        names = _split(problems)
        for name in names or []:
            registry.get(name)
        opts = _split(optimizers)
        for name in opts or []:
            optim.get(name.lower())
        lrs = _parse_grid(grid)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    if convention not in optim.CONVENTIONS:
        raise typer.BadParameter(f"Invalid convention: {convention!r} (expected one of "
                                 f"{', '.join(optim.CONVENTIONS)})", param_hint="--convention")
    try:
        output = compare(mode=mode, problems=names, optimizers=opts, seeds=seeds, grid=lrs,
                         convention=convention, jobs=jobs, store=store, out=out, animations=animations)
    except KeyboardInterrupt:
        typer.echo(f"\nInterrupted. Every finished trial is in {store}: run the same command again to "
                   "resume.", err=True)
        raise typer.Exit(130) from None
    typer.echo(f"{len(output.records)} trials ({output.ran} run now, {output.reused} from {store}).")
    for topic, text in output.recommendation[:1]:
        typer.echo(f"\n{text}\n")
    typer.echo(f"Report:  {output.html}\nSummary: {output.markdown}")
