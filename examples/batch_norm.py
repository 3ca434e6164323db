"""Batch normalization lets the same network train at a learning rate where it diverges without.

The data: 10 Gaussian blobs in 20 dimensions whose features come at very different scales (scaled by
factors from 0.1 to 100, as raw, unstandardized measurements do). The network: an MLP with two
hidden layers of 64 ReLUs, trained with plain mini-batch SGD (no momentum, no clipping, no schedule)
at the same learning rate, once without and once with batch normalization after each hidden linear
layer. See docs/batch_norm.md for the figure and the numbers.

Run from the repository root (a few seconds on 2 CPU cores):

    python examples/batch_norm.py              # writes docs/images/batch_norm.png, prints the losses
    python examples/batch_norm.py --sweep      # first the learning-rate sweep behind the lr (~1 min)
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from sgdlab.models import MLP
from sgdlab.optim import SGD

N_CLASSES, N_FEATURES = 10, 20
FIGURE = Path(__file__).resolve().parents[1] / "docs" / "images" / "batch_norm.png"
#: The learning rate of the figure: chosen by the sweep (``--sweep``) as one where the plain network
#: diverges (its loss reaches NaN) and the batch-normalized one trains well.
LR = 0.3
EPOCHS = 30
BATCH_SIZE = 64


def make_data(n_train: int = 2048, n_test: int = 1000, seed: int = 0):
    """10-class Gaussian blobs in 20-d: centers ~ N(0, 1.5^2 I), unit noise, then feature j scaled by
    10^(-1 + 3 j / 19), i.e. 0.1 ... 100. Returns ``(x_train, y_train), (x_test, y_test)``."""
    g = torch.Generator().manual_seed(seed)
    centers = 1.5 * torch.randn(N_CLASSES, N_FEATURES, generator=g)
    scales = torch.logspace(-1, 2, N_FEATURES)

    def sample(n):
        y = torch.randint(N_CLASSES, (n,), generator=g)
        x = (centers[y] + torch.randn(n, N_FEATURES, generator=g)) * scales
        return x, y

    return sample(n_train), sample(n_test)


@dataclass
class Run:
    batch_norm: bool
    lr: float
    steps_per_epoch: int
    step_loss: list[float] = field(default_factory=list)  #: the loss of every mini-batch, in order
    diverged_at: int | None = None  #: the step (from 1) whose loss was inf or NaN; training stops there
    final_loss: float = math.nan  #: full training-set loss in eval mode after training
    test_accuracy: float = math.nan

    @property
    def epoch_loss(self) -> list[float]:
        """Mean mini-batch loss of each completed epoch."""
        k = self.steps_per_epoch
        return [sum(self.step_loss[i:i + k]) / k for i in range(0, len(self.step_loss) - k + 1, k)]

    @property
    def peak_loss(self) -> float:
        return max((v for v in self.step_loss if math.isfinite(v)), default=math.nan)


def train(batch_norm: bool, lr: float, *, epochs: int = EPOCHS, data=None, seed: int = 0,
          batch_size: int = BATCH_SIZE) -> Run:
    """Train the MLP with plain SGD; stop at the first inf/NaN mini-batch loss."""
    (x, y), (x_test, y_test) = data if data is not None else make_data()
    torch.manual_seed(seed)
    model = MLP(N_FEATURES, hidden=(64, 64), out_features=N_CLASSES, batch_norm=batch_norm)
    opt = SGD(model.parameters(), lr=lr, fused=False)  # a few thousand weights: the eager path
    order = torch.Generator().manual_seed(seed)
    # full mini-batches only: a short last batch (BatchNorm statistics of a few samples) is a noisy
    # step at a large learning rate, and the last step decides the final model
    steps_per_epoch = len(x) // batch_size
    run = Run(batch_norm, lr, steps_per_epoch)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=order)[: steps_per_epoch * batch_size].split(batch_size):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            run.step_loss.append(loss.item())
            if not math.isfinite(run.step_loss[-1]):
                run.diverged_at = len(run.step_loss)
                return run
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        run.final_loss = F.cross_entropy(model(x), y).item()
        run.test_accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    return run


def describe(run: Run) -> str:
    name = "batch norm   " if run.batch_norm else "no batch norm"
    if run.diverged_at is not None:
        epoch = (run.diverged_at - 1) // run.steps_per_epoch + 1
        return (f"{name} lr={run.lr:g}: DIVERGED, loss {run.step_loss[-1]} at step {run.diverged_at} "
                f"(epoch {epoch}); losses before: {', '.join(f'{v:.3g}' for v in run.step_loss[:-1])}")
    stuck = "  <- blew up, then stuck at chance" if outcome(run) == "blew up" else ""
    return (f"{name} lr={run.lr:g}: peak mini-batch loss {run.peak_loss:.3g}, epoch 1 mean "
            f"{run.epoch_loss[0]:.3f}, final training loss {run.final_loss:.4f}, test accuracy "
            f"{run.test_accuracy:.3f}{stuck}")


def plot(runs: list[Run], path: Path) -> None:
    """Left: every mini-batch of the first epoch (where the divergence happens); right: the epoch
    means over the whole run. Log-scale losses; a cross marks the step whose loss was inf/NaN."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (first, whole) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110, width_ratios=(1, 1.4))
    colors = {False: "tab:red", True: "tab:blue"}
    chance = math.log(N_CLASSES)
    for run in runs:
        color = colors[run.batch_norm]
        label = ("with" if run.batch_norm else "without") + " batch norm"
        k = run.steps_per_epoch
        head = run.step_loss[:k]
        steps = [s for s, v in enumerate(head, 1) if math.isfinite(v)]
        first.plot(steps, [head[s - 1] for s in steps], "o-", ms=3, color=color, label=label)
        if run.epoch_loss:
            whole.plot(range(1, len(run.epoch_loss) + 1), run.epoch_loss, "o-", ms=3.5, color=color,
                       label=label)
        if run.diverged_at is not None:
            top = max(v for v in run.step_loss if math.isfinite(v))
            first.plot([run.diverged_at], [top], "X", ms=12, color=color)
            first.annotate(f"step {run.diverged_at}: loss = {run.step_loss[-1]}", (run.diverged_at, top),
                           xytext=(10, -4), textcoords="offset points", color=color, va="top")
            whole.plot([], [], "X", ms=10, color=color,
                       label=f"{label}: diverged (loss {run.step_loss[-1]}) at step {run.diverged_at} "
                             f"of epoch 1")
    for ax in (first, whole):
        ax.axhline(chance, color="gray", ls=":", lw=1)
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
    first.text(runs[0].steps_per_epoch, chance * 1.5, "log 10 (uniform guess)", color="gray", ha="right",
               fontsize=8)
    whole.text(1, chance * 1.08, "log 10 (uniform guess)", color="gray", ha="left", va="bottom", fontsize=8)
    first.set(xlabel="step (mini-batch of 64) in epoch 1", ylabel="training loss (cross-entropy)",
              title="Epoch 1, every mini-batch")
    whole.set(xlabel="epoch", ylabel="mean mini-batch loss of the epoch", title=f"All {EPOCHS} epochs",
              xlim=(0.5, EPOCHS + 0.5))
    first.legend(loc="center right", fontsize=9)
    whole.set_ylim(top=chance * 1.6)
    whole.legend(loc="upper right", bbox_to_anchor=(1, 0.86), fontsize=9)  # below the chance line
    fig.suptitle(f"The same MLP, plain SGD at lr = {runs[0].lr:g}: with batch norm it trains, "
                 f"without it diverges", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def outcome(run: Run) -> str:
    """``"diverged"``: the loss reached inf/NaN; ``"blew up"``: a mini-batch loss above 100 log 10
    (the correct class's probability under e^-230), after which the run ended at chance level (its
    ReLUs died); ``"trained"`` otherwise, which at a tiny lr may still mean "not far yet"."""
    if run.diverged_at is not None:
        return "diverged"
    blew_up = run.peak_loss > 100 * math.log(N_CLASSES) and run.test_accuracy < 2 / N_CLASSES
    return "blew up" if blew_up else "trained"


def sweep(lrs=(1e-4, 1e-3, 1e-2, 3e-2, 5e-2, 0.1, 0.3, 1.0), seeds=(0,), verbose=False) -> None:
    """Each lr with and without batch norm over ``seeds`` (initialization and mini-batch order); prints
    a Markdown table: outcomes, and the median final loss / mean test accuracy of the runs that trained."""
    data = make_data()
    print("| lr | without batch norm | with batch norm |")
    print("|---|---|---|")
    for lr in lrs:
        cells = []
        for batch_norm in (False, True):
            runs = [train(batch_norm, lr, data=data, seed=seed) for seed in seeds]
            if verbose:
                for seed, run in zip(seeds, runs):
                    print(f"    seed {seed}: {describe(run)}")
            counts = {k: sum(outcome(r) == k for r in runs) for k in ("trained", "diverged", "blew up")}
            cell = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
            trained = sorted(r.final_loss for r in runs if outcome(r) == "trained")
            if trained:
                acc = sum(r.test_accuracy for r in runs if outcome(r) == "trained") / len(trained)
                cell += f": loss {trained[len(trained) // 2]:.3f}, acc {acc:.3f}"
            cells.append(cell)
        print(f"| {lr:g} | {cells[0]} | {cells[1]} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="also run the learning-rate sweep")
    parser.add_argument("--seeds", type=int, default=5, help="seeds (init and order) per lr in the sweep")
    parser.add_argument("--verbose", action="store_true", help="print every run of the sweep")
    parser.add_argument("--out", type=Path, default=FIGURE, help=f"where to write the figure ({FIGURE})")
    args = parser.parse_args()
    if args.sweep:
        sweep(seeds=tuple(range(args.seeds)), verbose=args.verbose)
    data = make_data()
    runs = [train(False, LR, data=data), train(True, LR, data=data)]
    for run in runs:
        print(describe(run))
    plot(runs, args.out)
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
