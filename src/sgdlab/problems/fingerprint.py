"""A problem's identity for the results store: a hash of what it trains on.

:func:`fingerprint` builds the problem with seed 0 and hashes (SHA-256, 20 hex digits kept):

* the data of the train, validation and test splits: every array's dtype, shape and bytes (a
  ``scipy.sparse`` matrix's CSR arrays; a Dataset's items, one by one; a DataLoader's dataset and the
  code of its ``collate_fn``);
* the model: its ``repr`` (the architecture), the source code of the class of every module in it (so
  an edited ``forward`` counts), and its parameters and buffers as initialised from seed 0;
* the source code of the loss and metric functions (their qualified name where the source is not
  available);
* :attr:`Problem.digest`: the hash of the files the problem was read from (a LIBSVM file, your Python
  file), so that an edited file never reuses old trials even where the edit changes none of the above.

What it does not see: code that the functions above call (a helper of your loss function in another
module), and anything random that seed 0 does not fix. The problem's name, title, target and budgets
are not part of it: they label trials, or are stored with each trial, but do not change what is
trained.

>>> import torch
>>> from sgdlab.problems.base import Problem
>>> X, y = torch.ones(8, 2), torch.zeros(8, 1)
>>> def model():
...     return torch.nn.Linear(2, 1)
>>> a = Problem.from_model(model, torch.nn.functional.mse_loss, (X, y), (X, y), target=0.1)
>>> b = Problem.from_model(model, torch.nn.functional.mse_loss, (X, y + 1), (X, y), target=0.1)
>>> a.fingerprint == b.fingerprint, len(a.fingerprint)
(False, 20)
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

import numpy as np
import scipy.sparse
import torch

#: Bumped when what is hashed changes (every stored trial is then run again).
VERSION = b"sgdlab problem fingerprint 1"


def fingerprint(problem: Any) -> str:
    """The hash of ``problem`` (see the module's docstring); builds it once with seed 0."""
    h = hashlib.sha256(VERSION)
    with torch.random.fork_rng(devices=[]):
        task = problem.build(0)
    for part in (task.train, task.val, task.test):
        h.update(b"\0split")
        _data(h, part)
    _model(h, task.model)
    for fn in (task.loss_fn, task.metric_fn):
        h.update(b"\0code")
        h.update(code_text(fn).encode())
    h.update(b"\0digest" + problem.digest.encode())
    return h.hexdigest()[:20]


def file_digest(path: str) -> str:
    """The SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def code_text(fn: Any) -> str:
    """What identifies a function: its qualified name and its source code (where Python has it)."""
    if fn is None:
        return "None"
    target = getattr(fn, "func", fn)  # a functools.partial: its function (and its arguments below)
    name = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', type(target).__qualname__)}"
    try:
        source = inspect.getsource(target if inspect.isroutine(target) or inspect.isclass(target)
                                   else type(target))
    except (OSError, TypeError):
        source = ""
    extra = repr((getattr(fn, "args", ()), getattr(fn, "keywords", {}))) if target is not fn else ""
    if not (inspect.isroutine(target) or inspect.isclass(target)):
        # a callable object (a loss module, say): its public settings count too
        extra += repr(sorted((k, repr(v)) for k, v in getattr(target, "__dict__", {}).items()
                            if not k.startswith("_")))
    return f"{name}\n{source}\n{extra}"


def _data(h: Any, data: Any) -> None:
    if data is None:
        h.update(b"none")
    elif isinstance(data, torch.utils.data.DataLoader):
        h.update(b"loader" + code_text(data.collate_fn).encode())
        _data(h, data.dataset)
    elif isinstance(data, torch.utils.data.Dataset):
        n = len(data)  # type: ignore[arg-type]
        h.update(f"dataset {type(data).__qualname__} {n}".encode())
        for i in range(n):
            _value(h, data[i])
    else:
        _value(h, data)


def _value(h: Any, value: Any) -> None:
    """Hash a nested structure of tensors, arrays, sparse matrices, numbers and strings."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"tensor {t.dtype} {tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif scipy.sparse.issparse(value):
        m = scipy.sparse.csr_matrix(value)
        m.sort_indices()
        h.update(f"sparse {m.dtype} {m.shape}".encode())
        for a in (m.data, m.indices, m.indptr):
            h.update(np.ascontiguousarray(a).tobytes())
    elif isinstance(value, np.ndarray):
        h.update(f"array {value.dtype.str} {value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes() if value.dtype != object else repr(value.tolist()).encode())
    elif isinstance(value, (tuple, list)):
        h.update(f"seq {len(value)}".encode())
        for v in value:
            _value(h, v)
    elif isinstance(value, dict):
        h.update(f"dict {len(value)}".encode())
        for k in sorted(value, key=repr):
            h.update(repr(k).encode())
            _value(h, value[k])
    else:
        h.update(f"{type(value).__qualname__} {value!r}".encode())


def _model(h: Any, model: torch.nn.Module) -> None:
    h.update(b"\0model" + repr(model).encode())
    for kind in sorted({type(m) for m in model.modules()}, key=lambda t: f"{t.__module__}.{t.__qualname__}"):
        h.update(code_text(kind).encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        _value(h, tensor)
