"""Which optimizer for *my* model? ``sgdlab compare`` on a model and data that are not built in.

The model is a small tabular network (LayerNorm, GELU, dropout: none of ``sgdlab.models``) on
scikit-learn's breast-cancer data (569 tumours, 30 features, shipped with scikit-learn: no download),
fed through a ``torch.utils.data.DataLoader`` as a training script would. No target is given, so
``sgdlab compare`` calibrates one the way the built-in problems' were, and the report says so.

Run it from Python (this file's ``main``)::

    python examples/compare_my_model.py                 # report in ./my-model-report/

or give the file to the command line, which imports ``make_problem`` from it (in each worker too)::

    sgdlab compare --problem examples/compare_my_model.py:make_problem
    sgdlab compare --problem examples/compare_my_model.py --problem digits_mlp   # beside a built-in one

Editing this file (the model, the data, the split) changes the problem's fingerprint, so the store
never mixes the new trials with the old ones.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from sgdlab.compare import Problem, compare

SPLIT_SEED = 0  # the data split is fixed: only the model's initialisation changes with a trial's seed


class TabularNet(torch.nn.Module):
    """x -> Linear -> LayerNorm -> GELU -> Dropout -> Linear -> LayerNorm -> GELU -> Linear (logits)."""

    def __init__(self, features: int, hidden: int = 64, classes: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(features, hidden), torch.nn.LayerNorm(hidden), torch.nn.GELU(), torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, hidden), torch.nn.LayerNorm(hidden), torch.nn.GELU(),
            torch.nn.Linear(hidden, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def make_model() -> torch.nn.Module:
    return TabularNet(30)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(-1) == y).float().mean()


def load_data() -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """Train, validation and test (60/20/20, a fixed permutation), standardised with the training
    split's mean and standard deviation."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    n_val = n_test = len(y) // 5
    val, test, train = order[:n_val], order[n_val:n_val + n_test], order[n_val + n_test:]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    Z = ((X - mean) / std).astype(np.float32)
    return tuple((torch.from_numpy(Z[i]), torch.from_numpy(y[i].astype(np.int64))) for i in (train, val, test))


def make_problem() -> Problem:
    train, val, test = load_data()
    loader = DataLoader(TensorDataset(*train), batch_size=32, shuffle=True)  # fit uses its dataset and batch size
    return Problem.from_model(
        make_model, torch.nn.functional.cross_entropy, loader, val, test, metric=accuracy, epochs=15,
        name="breast_cancer_mlp", title="A tabular MLP on breast-cancer data (yours)",
        description="A LayerNorm/GELU MLP with dropout, 30 -> 64 -> 64 -> 2, on scikit-learn's breast-cancer "
                    f"data ({len(train[1])} training, {len(val[1])} validation, {len(test[1])} test tumours, "
                    "features standardised with the training statistics); cross-entropy; accuracy.")


def main() -> None:
    output = compare(problems=[make_problem()], store="my-model.sqlite", out="my-model-report", animations=False)
    print(f"{len(output.records)} trials ({output.ran} run now, {output.reused} from the store)\n")
    for topic, text in output.recommendation[:3]:
        print(f"{topic}: {text}\n")
    print(f"Report: {output.html}")


if __name__ == "__main__":  # the worker processes import this file: the comparison starts only here
    main()
