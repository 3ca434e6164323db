"""Multinomial logistic regression, with a sparse-input path that never densifies X."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .._validation import ArgumentTypeError, ArgumentValueError, Bool, Int, check

# torch.sparse.mm takes these two layouts directly (and differentiates w.r.t. the dense operand);
# any other sparse layout is converted to COO, which stays sparse.
_MM_LAYOUTS = (torch.sparse_coo, torch.sparse_csr)


class LogisticRegression(nn.Module):
    """Logistic (softmax) regression: one linear layer ``logits = X W^T + b``, to be trained with
    ``torch.nn.functional.cross_entropy``.

    The model always returns ``n_classes`` logits, also for two classes: one convention for every
    ``n_classes``, and the loss is always cross-entropy. With two classes the difference of the two
    logits is the log-odds of the binary model, ``z_1 - z_0 = (w_1 - w_0) x + (b_1 - b_0)``, so the
    softmax over two logits is exactly ``sigmoid(z_1 - z_0)``; the extra row of parameters is
    redundant (the loss only sees the difference), not harmful.

    Args:
        n_features: input dimension d.
        n_classes: number of classes K >= 2 (default 2); the model has K * d + K parameters.
        sparse: ``True`` to accept sparse inputs: a torch sparse tensor (COO or CSR; other sparse
            layouts are converted to COO) of shape ``(N, n_features)``, multiplied as
            ``torch.sparse.mm(X, W^T) + b`` without densifying X, or a ``scipy.sparse`` matrix/array
            (any format), converted to a torch COO tensor of the weights' dtype and device. Dense
            tensors are still accepted. With ``sparse=False`` (default) a sparse input is refused
            with an error rather than silently densified.

    The gradient w.r.t. ``W`` is dense either way (``X^T (softmax - onehot)`` touches every row of W
    whose feature occurs in the batch), so every optimizer of ``sgdlab.optim`` applies.

    Example:
        >>> import torch
        >>> from sgdlab.models import LogisticRegression
        >>> model = LogisticRegression(4, n_classes=3)
        >>> model(torch.randn(8, 4)).shape
        torch.Size([8, 3])
        >>> sum(p.numel() for p in model.parameters())  # 3 * 4 weights + 3 biases
        15
        >>> import scipy.sparse
        >>> sparse_model = LogisticRegression(1000, sparse=True)
        >>> X = scipy.sparse.random(8, 1000, density=0.01, format="csr", random_state=0)
        >>> sparse_model(X).shape
        torch.Size([8, 2])
    """

    def __init__(self, n_features: int, n_classes: int = 2, sparse: bool = False):
        super().__init__()
        self.n_features = check("n_features", n_features, Int(1))
        self.n_classes = check("n_classes", n_classes, Int(2))
        self.sparse = check("sparse", sparse, Bool())
        self.linear = nn.Linear(self.n_features, self.n_classes)

    @property
    def weight(self) -> Tensor:
        """W, shape ``(n_classes, n_features)``."""
        return self.linear.weight

    @property
    def bias(self) -> Tensor:
        """b, shape ``(n_classes,)``."""
        return self.linear.bias

    def forward(self, X: Any) -> Tensor:
        """Logits of shape ``(N, n_classes)`` for X of shape ``(N, n_features)``."""
        if _is_scipy_sparse(X):
            if not self.sparse:
                raise ArgumentValueError("Invalid X: a scipy.sparse matrix (expected a dense one, or "
                                         "LogisticRegression(..., sparse=True))")
            X = _scipy_to_torch(X, dtype=self.weight.dtype, device=self.weight.device)
        elif isinstance(X, np.ndarray):
            X = torch.as_tensor(X, dtype=self.weight.dtype, device=self.weight.device)
        if not isinstance(X, Tensor):
            raise ArgumentTypeError(f"Invalid X: of type {type(X).__name__} (expected a tensor, numpy array "
                                    "or scipy.sparse matrix)")
        if X.layout == torch.strided:
            if X.shape[-1:] != (self.n_features,):
                raise ArgumentValueError(f"Invalid X: shape {tuple(X.shape)} (expected (N, {self.n_features}))")
            return self.linear(X)
        if not self.sparse:
            raise ArgumentValueError(f"Invalid X: a sparse tensor ({X.layout}) (expected a dense one, or "
                                     "LogisticRegression(..., sparse=True))")
        if X.dim() != 2 or X.shape[1] != self.n_features:
            raise ArgumentValueError(f"Invalid X: sparse shape {tuple(X.shape)} (expected (N, {self.n_features}))")
        if X.layout not in _MM_LAYOUTS:
            X = X.to_sparse_coo()
        return torch.sparse.mm(X, self.weight.t()) + self.bias


def _is_scipy_sparse(X: Any) -> bool:
    # scipy is a dependency of sgdlab, but import it lazily: the dense path should not pay for it
    try:
        import scipy.sparse
    except ImportError:  # pragma: no cover - scipy is a hard dependency
        return False
    return scipy.sparse.issparse(X)


def _scipy_to_torch(X: Any, *, dtype: torch.dtype, device: torch.device) -> Tensor:
    coo = X.tocoo()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(np.asarray(coo.data))
    # coalesce: scipy COO may hold duplicate entries (they add up, as torch's coalesce does). The
    # indices come from a valid scipy matrix, so torch's invariant checks would only cost time.
    return torch.sparse_coo_tensor(indices, values, coo.shape, dtype=dtype, device=device,
                                   check_invariants=False).coalesce()
