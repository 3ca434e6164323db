"""A multi-layer perceptron with optional batch normalization (Ioffe & Szegedy 2015; in the survey's
"Additional strategies for optimizing SGD")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from .._validation import ArgumentValueError, Bool, Int, Options, Real, Seq, argument_error, check

#: Hidden-layer activations by name.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU, "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


class MLP(nn.Module):
    """Fully connected network: per hidden layer ``Linear -> [BatchNorm1d] -> activation -> [Dropout]``,
    then a final ``Linear`` to ``out_features`` outputs (logits or regression values, no activation).

    Batch normalization (the survey's "Batch normalization", Ioffe & Szegedy 2015) re-normalizes each
    hidden layer's pre-activations over the mini-batch to zero mean and unit variance, then scales and
    shifts them by learned gamma, beta. In training mode it uses the batch's statistics and updates
    running averages; in ``model.eval()`` it uses the running averages, so a prediction does not
    depend on the batch.
    With ``batch_norm=True`` the hidden ``Linear`` layers have no bias: BatchNorm subtracts the batch
    mean, which cancels any bias added before it, and its beta takes the bias's role.

    Args:
        in_features: input dimension.
        hidden: widths of the hidden layers (default ``(64, 64)``; ``()`` gives a single linear layer,
            an int one hidden layer).
        out_features: output dimension (required).
        batch_norm: insert ``BatchNorm1d`` after each hidden ``Linear`` (default ``False``).
        activation: one of ``"relu"`` (default), ``"leaky_relu"``, ``"elu"``, ``"gelu"``, ``"tanh"``,
            ``"sigmoid"``.
        dropout: dropout probability after each hidden activation, in [0, 1) (default 0: none).

    Parameters: per hidden layer of width h after a layer of width p, ``p*h + h`` (``p*h + 2h`` with
    batch norm: no bias, plus gamma and beta), plus ``p*out + out`` for the output layer.

    Example:
        >>> import torch
        >>> from sgdlab.models import MLP
        >>> model = MLP(3, hidden=(4,), out_features=2, batch_norm=True)
        >>> [type(layer).__name__ for layer in model.net]
        ['Linear', 'BatchNorm1d', 'ReLU', 'Linear']
        >>> model.net[0].bias is None  # BatchNorm's beta takes the bias's role
        True
        >>> sum(p.numel() for p in model.parameters())  # 3*4 + (4 + 4) + 4*2 + 2
        30
        >>> model(torch.randn(5, 3)).shape
        torch.Size([5, 2])
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (64, 64), out_features: int | None = None,
                 batch_norm: bool = False, activation: str = "relu", dropout: float = 0.0):
        super().__init__()
        if out_features is None:
            raise argument_error("out_features", None, "an int >= 1: it has no default")
        self.in_features = check("in_features", in_features, Int(1))
        self.hidden = widths("hidden", hidden)
        self.out_features = check("out_features", out_features, Int(1))
        self.batch_norm = check("batch_norm", batch_norm, Bool())
        self.activation = check("activation", activation, Options(*ACTIVATIONS))
        # p = 1 would zero every activation
        self.dropout = check("dropout", dropout, Real(0, 1, closed="left"))

        layers: list[nn.Module] = []
        width = self.in_features
        for h in self.hidden:
            layers.append(nn.Linear(width, h, bias=not self.batch_norm))
            if self.batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(ACTIVATIONS[self.activation]())
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            width = h
        layers.append(nn.Linear(width, self.out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, in_features) -> (N, out_features)``."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ArgumentValueError(f"Invalid x: shape {tuple(x.shape)} (expected (N, {self.in_features}))")
        return self.net(x)


def widths(name: str, value: Any, *, min_length: int = 0) -> tuple[int, ...]:
    """Layer widths: a sequence of ints >= 1, or one int for one layer."""
    value = check(name, value, Seq(Int(1), min_length=min_length), Int(1))
    return (value,) if isinstance(value, int) else value
