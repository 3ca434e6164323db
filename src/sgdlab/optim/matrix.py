"""The per-shape path of the engine: rules that act on whole tensors, run on a batch of same-shape ones.

The elementwise optimizers see a parameter as a run of elements of a flat buffer. Adafactor, Muon and
SOAP need each parameter whole: its row and column means, its Frobenius norm, its Gram matrices. Here
the parameters of one (param group, device, dtype, shape) form a *shape bucket*: the same flat buffers
as the engine's buckets, which, the parameters being of one shape, are a contiguous batch
``(B, *shape)``; the state is kept as batches ``(B, *state shape)`` (Muon's momentum ``(B, m, n)``,
Adafactor's row factors ``(B, m, 1)``, SOAP's ``L`` ``(B, m, m)``). Each rule is written once, for a
batch: ``rule(param, grad, **state, **scalars)`` on ``(b, *shape)`` tensors, its matrix products as
``torch.bmm`` / ``baddbmm`` and its norms reduced over all but the first dimension. One matrix and a
stack of 48 run through the same lines; a step is one call per shape (per run of equal step counts, when
some parameters got no gradient), not one per tensor.

Everything else is the engine's: gathering gradients into the flat buffer, the run splitting, the
per-parameter ``step``, ``opt.state[p]`` as views (``state[p]["row_var"]`` is entry i of the batch),
torch's ``state_dict`` format, rebuilding after ``model.to(...)``, refusing sparse gradients by name,
``nonfinite=``. A class can route some param groups to the engine's elementwise path instead
(:meth:`MatrixOptimizer.per_shape`): Muon's AdamW groups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

from ._engine import FlatOptimizer, _Bucket, _run_fused


class _ShapeBucket(_Bucket):
    """The parameters of one (param group, device, dtype, shape): a :class:`_Bucket` whose flat
    buffers are read as the batch ``(B, *shape)``, and whose state buffers are batches
    ``(B, *state shape)`` (entry i belongs to parameter i)."""

    def __init__(self, params: list[Tensor], positions: list[int]):
        super().__init__(params, positions)
        self.shape = tuple(params[0].shape)

    def batch(self, buffer: Tensor, first: int, last: int) -> Tensor:
        """Parameters ``first:last`` of a flat buffer (parameters, gradients) as ``(n, *shape)``."""
        return buffer[self.offsets[first]:self.offsets[last]].view(last - first, *self.shape)

    def view(self, buffer: Tensor, i: int) -> Tensor:
        if buffer.dim() == 1:  # the flat parameter and gradient buffers
            return super().view(buffer, i)
        return buffer[i]


class MatrixOptimizer(FlatOptimizer):
    """Base class of the optimizers whose rule needs each parameter whole (Adafactor, Muon, SOAP).

    Besides :class:`FlatOptimizer`'s declarations (``ARGS``, ``DEFAULTS``, ``paper``, ``equations``),
    a subclass declares:

    * ``shape_kernel``: the rule, ``shape_kernel(param, grad, **state, **hyper)`` on a batch
      ``(b, *shape)`` of parameters of one shape, their gradients and their state, updating them in
      place (weight decay included: where it acts in the update is the rule's);
    * ``shape_state(group, shape)``: the state of a parameter of that shape,
      ``{name: (state shape, initial value)}``, under torch.optim's names where torch has the rule;
    * ``shape_hyper(group, step, param)``: the scalars and switches of one step for a batch;
    * ``per_shape(group)``: whether the group takes this path (default: every group); a group that
      does not runs the elementwise ``kernel`` / ``state_names`` / ``hyper`` of the engine;
    * ``shape_fusable(shape)``: whether ``fused`` may compile ``shape_kernel`` (torch.compile) for
      parameters of that shape, as the engine compiles elementwise updates. False (the default) for
      rules whose matrix products and decompositions gain nothing from it (Muon's bfloat16 products
      would round differently from torch.optim's, SOAP's eigh and QR do not compile).
    """

    shape_kernel: ClassVar[Callable[..., None]]

    def shape_fusable(self, shape: tuple[int, ...]) -> bool:
        """Whether the fast path may compile ``shape_kernel`` for parameters of ``shape``."""
        return False

    def per_shape(self, group: dict[str, Any]) -> bool:
        """Whether ``group``'s parameters take the per-shape path."""
        return True

    def shape_state(self, group: dict[str, Any], shape: tuple[int, ...]) -> dict[str, tuple[tuple[int, ...], float]]:
        raise NotImplementedError

    def shape_hyper(self, group: dict[str, Any], step: int, param: Tensor) -> dict[str, Any]:
        raise NotImplementedError

    def state_names(self, group: dict[str, Any]) -> dict[str, float]:
        return {}  # only groups routed to the elementwise path have flat state

    # ---- the engine's hooks, for shape buckets --------------------------------------------------

    def _make_buckets(self, group: dict[str, Any]) -> list[_Bucket]:
        if not self.per_shape(group):
            return super()._make_buckets(group)
        by_kind: dict[tuple, tuple[list[Tensor], list[int]]] = {}
        for pos, p in enumerate(group["params"]):
            params, positions = by_kind.setdefault((p.device, p.dtype, tuple(p.shape)), ([], []))
            params.append(p)
            positions.append(pos)
        return [_ShapeBucket(params, positions) for params, positions in by_kind.values()]

    def _allocate_state(self, group: dict[str, Any], bucket: _Bucket) -> bool:
        if not isinstance(bucket, _ShapeBucket):
            return super()._allocate_state(group, bucket)
        missing = False
        for name, (shape, value) in self.shape_state(group, bucket.shape).items():
            if name not in bucket.state:
                missing = True
                bucket.state[name] = torch.full((len(bucket.params), *shape), float(value),
                                                dtype=bucket.flat.dtype, device=bucket.flat.device)
        return missing

    def _use_fused(self, bucket: _Bucket) -> bool:
        if isinstance(bucket, _ShapeBucket) and not self.shape_fusable(bucket.shape):
            return False
        return super()._use_fused(bucket)

    def _run(self, group: dict[str, Any], bucket: _Bucket, first: int, last: int, lo: int, hi: int,
             step: int, fast: bool) -> None:
        if not isinstance(bucket, _ShapeBucket):
            return super()._run(group, bucket, first, last, lo, hi, step, fast)
        param, grad = bucket.batch(bucket.flat, first, last), bucket.batch(bucket.grad, first, last)
        tensors = {name: buf[first:last] for name, buf in bucket.state.items()}
        hyper = self.shape_hyper(group, step, param)
        if fast:
            _run_fused(self.shape_kernel, param, grad, tensors, hyper)
        else:
            self.shape_kernel(param, grad, **tensors, **hyper)
        return None


def batch_rms(x: Tensor) -> Tensor:
    """RMS(x_i) of each entry of a batch ``(b, ...)``, shaped ``(b, 1, ...)`` to broadcast against it."""
    if x.dim() == 1:  # a batch of scalars (0-d parameters)
        return x.abs()
    dims = tuple(range(1, x.dim()))
    return x.square().mean(dim=dims, keepdim=True).sqrt()


__all__ = ["MatrixOptimizer", "batch_rms"]
