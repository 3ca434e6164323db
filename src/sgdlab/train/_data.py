"""What ``fit`` accepts as data, behind one interface: ``len(data)`` and ``data.batch(indices)``.

* ``(X, y)`` tensors: batches are ``X[indices]``, ``y[indices]``, dtype and device as given (moved to
  the model's device).
* ``(X, y)`` NumPy arrays: each batch is indexed in NumPy and only then converted, so no second copy
  of the data set is made; floating arrays become ``torch.get_default_dtype()`` (float64 data would
  not multiply float32 weights), integer arrays ``int64`` (the labels ``cross_entropy`` wants).
* ``(X, y)`` with ``X`` a ``scipy.sparse`` matrix or array: converted to CSR once; each batch slices
  its rows and densifies only those, so memory stays one dense batch however large the data. The
  model sees a dense tensor of the default dtype.
* A map-style ``torch.utils.data.Dataset`` whose items are ``(x, y)``: a batch is the items at the
  indices, collated with ``torch.utils.data.default_collate`` (as a ``DataLoader`` would).
* A ``torch.utils.data.DataLoader`` over such a Dataset: its ``dataset`` and its ``collate_fn`` are
  used (a custom collation, padding say, keeps working); its ``batch_size``, ``shuffle``, ``drop_last``
  and ``num_workers`` are not: ``fit`` batches with its own ``batch_size`` and reshuffles from its
  ``seed``, so that a run reproduces whatever the loader was built with. A loader whose sampler
  decides something fit cannot reproduce (a ``WeightedRandomSampler``, a custom ``batch_sampler``,
  sampling with replacement) is refused, as is one with ``batch_size=None`` (its items are batches).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
import torch
from torch import Tensor
from torch.utils.data import (BatchSampler, DataLoader, Dataset, IterableDataset, RandomSampler,
                              SequentialSampler, default_collate)

from .._validation import ArgumentTypeError, ArgumentValueError


def _length(name: str, what: str, a: Any) -> int:
    if scipy.sparse.issparse(a):
        return int(a.shape[0])
    if isinstance(a, (Tensor, np.ndarray)):
        if a.ndim == 0:
            raise ArgumentValueError(f"Invalid {name}: {what} is a scalar (expected one row per example)")
        return int(a.shape[0])
    kinds = "a torch.Tensor, a NumPy array" + (" or a scipy.sparse matrix" if what == "X" else "")
    raise ArgumentTypeError(f"Invalid {name}: {what} of type {type(a).__name__} (expected {kinds})")


def _to_tensor(a: np.ndarray) -> Tensor:
    if np.issubdtype(a.dtype, np.floating):
        return torch.from_numpy(np.ascontiguousarray(a)).to(torch.get_default_dtype())
    if np.issubdtype(a.dtype, np.integer):
        return torch.from_numpy(np.ascontiguousarray(a)).to(torch.int64)
    return torch.as_tensor(a)


class Data:
    """A training or validation set: its size and its batches."""

    def __init__(self, data: Any, name: str = "train") -> None:
        self.name = name
        self.dataset: Dataset | None = None
        self.collate: Any = default_collate
        self.X: Any = None
        self.y: Any = None
        if isinstance(data, DataLoader):
            _check_loader(name, data)
            self.collate = data.collate_fn
            data = data.dataset
        if isinstance(data, IterableDataset):
            raise ArgumentTypeError(f"Invalid {name}: an IterableDataset has no indices to shuffle or batch "
                                    "(expected a map-style Dataset, with __len__ and __getitem__, or (X, y))")
        if isinstance(data, Dataset):
            if not hasattr(data, "__len__"):
                raise ArgumentTypeError(f"Invalid {name}: the Dataset {type(data).__name__} has no __len__ "
                                        "(expected a map-style Dataset)")
            self.dataset = data
            self.n = len(data)
        elif isinstance(data, (tuple, list)) and len(data) == 2:
            X, y = data
            nx, ny = _length(name, "X", X), _length(name, "y", y)
            if scipy.sparse.issparse(y):
                raise ArgumentTypeError(f"Invalid {name}: y is sparse (expected a dense y: a tensor or a "
                                        "NumPy array)")
            if nx != ny:
                raise ArgumentValueError(f"Invalid {name}: X has {nx} rows and y {ny} (expected one label "
                                         "per row)")
            self.X = X.tocsr() if scipy.sparse.issparse(X) else X
            self.y = y
            self.n = nx
        else:
            raise ArgumentTypeError(f"Invalid {name}: a {type(data).__name__} (expected a pair (X, y) of "
                                    "tensors or arrays, a map-style torch.utils.data.Dataset or a DataLoader "
                                    "over one)")
        if self.n == 0:
            raise ArgumentValueError(f"Invalid {name}: 0 examples (expected at least one)")

    def __len__(self) -> int:
        return self.n

    @property
    def original(self) -> tuple[Any, ...]:
        """The arguments a curriculum's difficulty callable gets: ``(X, y)`` or ``(dataset,)``."""
        return (self.dataset,) if self.dataset is not None else (self.X, self.y)

    def batch(self, idx: np.ndarray, device: torch.device | None = None) -> tuple[Any, Any]:
        if self.dataset is not None:
            xb, yb = self.collate([self.dataset[int(i)] for i in idx])
        else:
            xb, yb = self._take(self.X, idx), self._take(self.y, idx)
        if device is not None:
            xb, yb = _move(xb, device), _move(yb, device)
        return xb, yb

    @staticmethod
    def _take(a: Any, idx: np.ndarray) -> Tensor:
        if isinstance(a, Tensor):
            return a[torch.from_numpy(idx).to(a.device)]
        if scipy.sparse.issparse(a):
            # Only this batch's rows are ever dense.
            return torch.from_numpy(a[idx].toarray()).to(torch.get_default_dtype())
        return _to_tensor(a[idx])


def _check_loader(name: str, loader: DataLoader) -> None:
    """Refuse a DataLoader whose batches fit could not reproduce from its own batch_size and seed."""
    what = None
    if loader.batch_sampler is not None and type(loader.batch_sampler) is not BatchSampler:
        what = f"the batch_sampler {type(loader.batch_sampler).__name__}"
    elif loader.batch_size is None:
        what = "batch_size=None (its items are whole batches)"
    elif type(loader.sampler) is RandomSampler:
        if loader.sampler.replacement or loader.sampler.num_samples != len(loader.dataset):
            what = "a RandomSampler that draws with replacement or another number of examples"
    elif type(loader.sampler) is not SequentialSampler:
        what = f"the sampler {type(loader.sampler).__name__}"
    if what is not None:
        raise ArgumentValueError(f"Invalid {name}: a DataLoader with {what} (expected a DataLoader with the "
                                 "default sampler, shuffled or not: fit batches and reshuffles the examples "
                                 "itself, from its batch_size and seed)")


def _move(x: Any, device: torch.device) -> Any:
    if isinstance(x, Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, (tuple, list)):
        return type(x)(_move(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _move(v, device) for k, v in x.items()}
    return x

