"""The ``sgdlab`` command line.

Every command is a typer function that calls the library. A usage error (a bad option, or an
:class:`~sgdlab._validation.ArgumentError` the library raises about an argument or a file it names) is
one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from ._validation import ArgumentError, argument_error

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


app = typer.Typer(cls=_Group, name="sgdlab", help="sgdlab: the optimizers of Ruder's survey of gradient descent, exact "
                  "and fast.", no_args_is_help=True, add_completion=False)


def command(name: str) -> Any:
    """``@command("compare")``: register a function as the command ``sgdlab compare``."""
    return app.command(name, cls=_Command)


@app.callback()
def _root() -> None:
    """sgdlab command line."""


def _names(text: str | None) -> list[str] | None:
    """A comma-separated option as a list (None stays None: the command's default)."""
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


@command("optimizers")
def optimizers_command(
    name: Annotated[str | None, typer.Argument(help="Show only this optimizer (e.g. adam).")] = None,
) -> None:
    """List every optimizer with its paper, its update equations and its defaults per convention."""
    from . import optim

    classes = [optim.get(name)] if name is not None else [optim.get(n) for n in optim.available()]
    typer.echo("\n\n".join(f"{cls.NAME}  (sgdlab.optim.{cls.__name__})\n"
                            + optim.describe(cls, indent="  ") for cls in classes))


@command("bench-step")
def bench_step_command(
    layouts: Annotated[str, typer.Option(
        help="Parameter layouts: a (1 x 16M floats), b (2000 mixed tensors, 10.3M floats), c (5000 x "
        "256 floats), t (a transformer's 72 matrices and 120 vectors, 85.1M floats; adafactor and muon "
        "unless --algorithms says).")] = "a,b,c",
    algorithms: Annotated[str | None, typer.Option(
        help="Comma-separated optimizer names (default: all).")] = None,
    steps: Annotated[int, typer.Option(help="Timed steps per measurement (the median is shown).")] = 20,
    compile_cost: Annotated[bool, typer.Option(
        "--compile-cost", help="Measure the first-step compile time instead.")] = False,
) -> None:
    """Time one optimizer step against torch.optim (default, foreach, fused) and the bandwidth bound."""
    from .optim import step_time

    if compile_cost:
        step_time.print_compile_cost(_names(algorithms), echo=typer.echo)
    else:
        step_time.print_table(_names(layouts) or [], _names(algorithms), steps, echo=typer.echo)


def _parse_start(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argument_error("start", text, "a point like 1.0,-1.5") from None


def _parse_lr(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    rates = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            rates[name.strip().lower()] = float(value)
        except ValueError:
            raise argument_error("lr", text, "name=value pairs, e.g. adam=0.1,sgd=0.01") from None
    return rates


# the options ``sgdlab animate`` and ``sgdlab plot`` share
Function = Annotated[str, typer.Argument(
    help="Test function: beale, rosenbrock, himmelblau, rastrigin, booth, saddle, monkey_saddle, ravine, "
    "noisy_beale.")]
Optimizers = Annotated[str | None, typer.Option(
    help="Comma-separated optimizer names (default: the survey's sgd,momentum,nag,adagrad,adadelta,rmsprop,"
    "adam).")]
Steps = Annotated[int | None, typer.Option(help="Steps per optimizer (default: the scene's).")]
Start = Annotated[str | None, typer.Option(help="Start point, e.g. 1.0,-1.0 (default: the scene's).")]
Rates = Annotated[str | None, typer.Option(
    help="Learning rates, e.g. adam=0.1,sgd=0.01 (default: the scene's).")]


@command("animate")
def animate_command(
    function: Function = "beale", optimizers: Optimizers = None, steps: Steps = None, start: Start = None,
    lr: Rates = None,
    out: Annotated[Path | None, typer.Option(help="Output .gif, .mp4 or .html (default: FUNCTION.gif).")] = None,
    frames: Annotated[int, typer.Option(help="At most this many frames (steps are sampled).")] = 300,
    fps: Annotated[int, typer.Option(help="Frames per second.")] = 30,
) -> None:
    """Animate the optimizers racing on a test function (the survey's Images 5 and 6)."""
    from .lab import figures

    out = out or Path(f"{function}.gif")
    figures.animate(function, _names(optimizers), steps=steps, start=_parse_start(start), lr=_parse_lr(lr),
                    out=out, max_frames=frames, fps=fps)
    typer.echo(f"wrote {out}")


@command("plot")
def plot_command(
    function: Function = "beale", optimizers: Optimizers = None, steps: Steps = None, start: Start = None,
    lr: Rates = None,
    out: Annotated[Path | None, typer.Option(help="Output .png, .svg or .pdf (default: FUNCTION.png).")] = None,
) -> None:
    """Plot the optimizers' whole paths on a test function, with the loss against the step."""
    from .lab import figures

    out = out or Path(f"{function}.png")
    figures.plot(function, _names(optimizers), steps=steps, start=_parse_start(start), lr=_parse_lr(lr),
                 out=out)
    typer.echo(f"wrote {out}")


def _register_commands() -> None:
    # each command module imports only typer and the standard library; what a command needs (torch,
    # numba, Ray) it imports when it runs, and a missing extra is a usage error naming its install
    from .compare.command import cli_compare
    from .distributed.command import cli_distributed
    from .parallel.command import cli_hogwild

    command("compare")(cli_compare)
    command("hogwild")(cli_hogwild)
    command("distributed")(cli_distributed)


_register_commands()


def main() -> None:
    app(prog_name="sgdlab")


if __name__ == "__main__":
    main()
