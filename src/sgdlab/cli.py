"""The ``sgdlab`` command line.

Every command is a typer function that calls the library. A usage error (a bad option, or an
:class:`~sgdlab._validation.ArgumentError` the library raises about an argument or a file it names) is
one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import typer
import typer.core

from . import optim
from ._validation import ArgumentError

# The exceptions of the click typer runs on (its own vendored copy in recent typer, the click package
# before).
_errors = importlib.import_module(typer.BadParameter.__module__)

#: what a file the user named cannot be, shown as a usage error too
_PATH_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)


class _Command(typer.core.TyperCommand):
    """A command whose argument errors are usage errors of this command."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ArgumentError, *_PATH_ERRORS) as err:
            raise _errors.UsageError(str(err), ctx) from err


class _Group(typer.core.TyperGroup):
    """``sgdlab``: prints a usage error as one line (``sgdlab compare: error: ...``), exit code 2."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _errors.NoArgsIsHelpError as err:  # plain ``sgdlab``: the help
            err.show()
            sys.exit(0)
        except _errors.UsageError as err:
            where = err.ctx.command_path if err.ctx is not None else "sgdlab"
            message = " ".join(err.format_message().split())
            typer.echo(f"{where}: error: {message} (see '{where} --help')", err=True)
            sys.exit(2)
        except _errors.ClickException as err:
            err.show()
            sys.exit(err.exit_code)
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)


app = typer.Typer(cls=_Group, help="sgdlab: the optimizers of Ruder's survey of gradient descent, exact "
                  "and fast.", no_args_is_help=True, add_completion=False)


def command(name: str) -> Any:
    """``@command("compare")``: register a function as the command ``sgdlab compare``."""
    return app.command(name, cls=_Command)


@app.callback()
def _root() -> None:
    """sgdlab command line."""


@command("optimizers")
def optimizers_command(
    name: str = typer.Argument(None, help="Show only this optimizer (e.g. adam)."),
) -> None:
    """List every optimizer with its paper, its update equations and its defaults per convention."""
    try:
        names = [optim.get(name).__name__.lower()] if name else optim.available()
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="NAME") from err
    blocks = []
    for key in names:
        cls = optim.get(key)
        blocks.append(f"{key}  (sgdlab.optim.{cls.__name__})\n" + optim.describe(cls, indent="  "))
    typer.echo("\n\n".join(blocks))


@command("bench-step")
def bench_step_command(
    layouts: str = typer.Option("a,b,c", help="Parameter layouts: a (1 x 16M floats), b (2000 mixed "
                                "tensors, 10.3M floats), c (5000 x 256 floats)."),
    algorithms: str = typer.Option(",".join(optim.available()), help="Comma-separated names."),
    steps: int = typer.Option(20, min=1, help="Timed steps per measurement (the median is shown)."),
    compile_cost: bool = typer.Option(False, "--compile-cost",
                                      help="Measure the first-step compile time instead."),
) -> None:
    """Time one optimizer step against torch.optim (default, foreach, fused) and the bandwidth bound."""
    import datetime
    import platform

    import torch

    from .optim import step_time as step

    names = [a.strip().lower() for a in algorithms.split(",") if a.strip()]
    for name in names:
        try:
            optim.get(name)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--algorithms") from err
    layout_names = [x.strip() for x in layouts.split(",") if x.strip()]
    unknown = [x for x in layout_names if x not in step.LAYOUTS]
    if unknown:
        raise typer.BadParameter(f"unknown layout {unknown[0]!r} (expected a, b or c)", param_hint="--layouts")
    typer.echo(f"sgdlab bench-step · {datetime.date.today()} · torch {torch.__version__} · "
               f"{platform.machine()} · {torch.get_num_threads()} threads\n")
    if compile_cost:
        typer.echo("| algorithm | first step, new process, empty cache (s) | of which this kernel's "
                   "compile (s) | first step, new process, cache filled (s) |\n|---|---|---|---|")
        step.compile_cost(names, report=lambda r: typer.echo(
            f"| {r['algorithm']} | {r['cold']:.2f} | {r['kernel']:.2f} | {r['cached']:.2f} |"))
        return
    typer.echo(step.TABLE_HEADER)
    adam_fused: dict[str, float] = {}

    def report(row: dict) -> None:
        if row["algorithm"] == "adam" and "torch_fused" in row:
            adam_fused[row["layout"]] = row["torch_fused"]
        typer.echo(step.format_row(row, adam_fused.get(row["layout"])))

    # torch's fused Adam first, so that every row can show its ratio to it
    ordered = (["adam"] if "adam" in names else []) + [n for n in names if n != "adam"]
    step.run(layout_names, ordered, steps, report=report)


def _parse_start(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError as err:
        raise typer.BadParameter(f"{text!r} is not a point like 1.0,-1.5", param_hint="--start") from err


def _parse_lr(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    rates = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            rates[name.strip().lower()] = float(value)
        except ValueError as err:
            raise typer.BadParameter(f"{item!r} is not name=value (e.g. adam=0.1)", param_hint="--lr") from err
        if not sep:
            raise typer.BadParameter(f"{item!r} is not name=value (e.g. adam=0.1)", param_hint="--lr")
    return rates


def _lab_call(kind: str, function: str, optimizers: str | None, steps: int | None, start: str | None,
              lr: str | None, out: Path | None, **extra) -> None:
    from .lab import figures

    names = [n.strip() for n in optimizers.split(",")] if optimizers else None
    target = out or Path(f"{function}.{'gif' if kind == 'animate' else 'png'}")
    call = figures.animate if kind == "animate" else figures.plot
    try:
        call(function, names, steps=steps, start=_parse_start(start), lr=_parse_lr(lr), out=target,
             **extra)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    typer.echo(f"wrote {target}")


_FUNCTION_HELP = "Test function: beale, rosenbrock, himmelblau, rastrigin, booth, saddle, monkey_saddle, ravine, noisy_beale."
_OPTIMIZERS_HELP = "Comma-separated optimizer names (default: the survey's sgd,momentum,nag,adagrad,adadelta,rmsprop,adam)."


@command("animate")
def animate_command(
    function: str = typer.Argument("beale", help=_FUNCTION_HELP),
    optimizers: str = typer.Option(None, help=_OPTIMIZERS_HELP),
    steps: int = typer.Option(None, help="Steps per optimizer (default: the scene's)."),
    start: str = typer.Option(None, help="Start point, e.g. 1.0,-1.0 (default: the scene's)."),
    lr: str = typer.Option(None, help="Learning rates, e.g. adam=0.1,sgd=0.01 (default: the scene's)."),
    out: Path = typer.Option(None, help="Output .gif, .mp4 or .html (default: FUNCTION.gif)."),
    frames: int = typer.Option(300, min=2, help="At most this many frames (steps are sampled)."),
    fps: int = typer.Option(30, min=1, help="Frames per second."),
) -> None:
    """Animate the optimizers racing on a test function (the survey's Images 5 and 6)."""
    _lab_call("animate", function, optimizers, steps, start, lr, out, max_frames=frames, fps=fps)


@command("plot")
def plot_command(
    function: str = typer.Argument("beale", help=_FUNCTION_HELP),
    optimizers: str = typer.Option(None, help=_OPTIMIZERS_HELP),
    steps: int = typer.Option(None, help="Steps per optimizer (default: the scene's)."),
    start: str = typer.Option(None, help="Start point, e.g. 1.0,-1.0 (default: the scene's)."),
    lr: str = typer.Option(None, help="Learning rates, e.g. adam=0.1,sgd=0.01 (default: the scene's)."),
    out: Path = typer.Option(None, help="Output .png, .svg or .pdf (default: FUNCTION.png)."),
) -> None:
    """Plot the optimizers' whole paths on a test function, with the loss against the step."""
    _lab_call("plot", function, optimizers, steps, start, lr, out)


def _register_compare() -> None:
    from .compare.command import cli_compare

    command("compare")(cli_compare)


_register_compare()


def _register_optional(name: str, module: str, attr: str, extra: str, title: str) -> None:
    """Register the command ``attr`` of ``module``, which needs the ``extra``; without it, a command of
    the same name that says how to install it."""
    try:
        cmd = getattr(importlib.import_module(module, __package__), attr)
    except ImportError as err:  # the extra is not installed
        missing = str(err)

        def missing_extra() -> None:
            raise typer.BadParameter(f"needs the {extra} extra: pip install 'sgdlab[{extra}]' ({missing})")
        missing_extra.__doc__ = f"{title} (needs: pip install 'sgdlab[{extra}]')."
        command(name)(missing_extra)
        return
    command(name)(cmd)


_register_optional("hogwild", ".parallel.command", "cli_hogwild", "parallel",  # numba
                   "Hogwild! lock-free parallel SGD")
_register_optional("distributed", ".distributed.command", "cli_distributed", "distributed",  # ray
                   "Distributed SGD on Ray")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
