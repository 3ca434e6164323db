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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
