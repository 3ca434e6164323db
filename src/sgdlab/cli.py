"""The ``sgdlab`` command line."""

from __future__ import annotations

import typer

from . import optim

app = typer.Typer(help="sgdlab: the optimizers of Ruder's survey of gradient descent, exact and fast.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def _root() -> None:
    """sgdlab command line."""


@app.command("optimizers")
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


@app.command("bench-step")
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

    from .bench import step

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
        typer.echo("| algorithm | first step, empty cache (s) | first step, cached (s) |\n|---|---|---|")
        step.compile_cost(names, report=lambda r: typer.echo(
            f"| {r['algorithm']} | {r['cold']:.2f} | {r['cached']:.2f} |"))
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
