"""The engine every sgdlab optimizer runs on: flat buffers and one update per run of parameters.

Each algorithm is written once, as an elementwise update over ``(param, grad, state tensors, scalar
hyper-parameters)`` (the ``*_update`` functions of the family modules). The engine decides what those
tensors are:

* The parameters of one (param group, device, dtype) live in one contiguous buffer; every parameter
  becomes a view into it (``p.data`` is rebound at construction). Gradients are gathered into a flat
  gradient buffer of the same layout: free when ``p.grad`` already is the engine's view, one batched copy
  when autograd allocated fresh gradients (after ``zero_grad(set_to_none=True)``).
* The state (``exp_avg``, ``exp_avg_sq``, ...) lives in flat buffers of the same layout; ``opt.state[p]``
  holds views into them under torch.optim's names, so ``state_dict()`` keeps torch's format.
* A step calls the algorithm's update once per *run*: a maximal stretch of consecutive parameters that
  all have a dense gradient and the same step count. In the common case (every parameter has a
  gradient) a bucket is one run, so a step is a handful of kernels over the whole model rather than a
  handful per tensor. Parameters that got no gradient are left untouched, as torch does.
* Sparse gradients take a row-wise path through the same update function where the algorithm defines
  one (``supports_sparse``); elsewhere they are refused with an error naming the parameter.
* The fast path compiles the same update function (torch.compile / Inductor) into one fused kernel
  per run. Hyper-parameters reach it as 0-d tensors, so schedules never recompile it; where
  compilation fails, the engine warns once and stays on the eager path.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.optim import Optimizer

CONVENTIONS = ("paper", "torch", "keras")
NONFINITE_POLICIES = ("apply", "skip", "raise")


# --------------------------------------------------------------------------------------------------
# Hyper-parameter validation: every message names the argument and the value it got.


def check_nonnegative(name: str, value: Any) -> None:
    if not _is_real(value) or not value >= 0.0:
        raise ValueError(f"Invalid {name}: {value!r} (expected a number >= 0)")


def check_unit_interval(name: str, value: Any, *, closed: bool = False) -> None:
    """``value`` in [0, 1) or, with ``closed``, in [0, 1]."""
    ok = _is_real(value) and 0.0 <= value and (value <= 1.0 if closed else value < 1.0)
    if not ok:
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(f"Invalid {name}: {value!r} (expected a number in {interval})")


def check_pair(name: str, value: Any, *, closed: bool = False) -> None:
    """A pair of numbers, each in [0, 1) (or [0, 1] with ``closed``): betas, nus."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"Invalid {name}: {value!r} (expected a pair of two numbers)")
    for i, v in enumerate(value):
        check_unit_interval(f"{name}[{i}]", v, closed=closed)


def _is_real(value: Any) -> bool:
    if isinstance(value, Tensor):
        return value.numel() == 1 and not value.is_complex()
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scalar(value: Any) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


def apply_weight_decay(param: Tensor, grad: Tensor, decay: str | None, weight_decay) -> Tensor:
    """The first line of every update: ``"l2"`` returns g + lambda theta (torch.optim, the papers);
    ``"decoupled"`` shrinks theta by the factor ``weight_decay`` in place (Keras, AdamW); ``None`` does
    nothing. ``decay`` is static, ``weight_decay`` a number or a 0-d tensor."""
    if decay == "l2":
        return grad + weight_decay * param
    if decay == "decoupled":
        param.mul_(1.0 - weight_decay)
    return grad


# --------------------------------------------------------------------------------------------------
# The fast path: each update function compiled (torch.compile / Inductor) into one fused kernel.

#: Buckets with at least this many elements use the compiled update when ``fused=None`` (the
#: default): below it the compile time (seconds, once per process; cached on disk across processes)
#: outweighs what fusion saves.
FUSED_MIN_NUMEL = 1 << 20
_COMPILED: dict[Callable, Callable] = {}
_COMPILE_FAILED: list[str] = []  # the reason, once compilation has failed in this process


def compile_available() -> bool:
    """False once torch.compile has failed in this process (no C++ compiler, unsupported platform)."""
    return not _COMPILE_FAILED


def _compiled(kernel: Callable) -> Callable:
    compiled = _COMPILED.get(kernel)
    if compiled is None:
        # dynamic=None: static shapes first; a second size makes only the dimension that changed
        # symbolic (AggMo's K rows stay static, which keeps its sum over K one fused pass).
        compiled = _COMPILED[kernel] = torch.compile(kernel, fullgraph=True, dynamic=None)
    return compiled


def _run_fused(kernel: Callable, param: Tensor, grad: Tensor, tensors: dict[str, Tensor],
               hyper: dict[str, Any]) -> None:
    """Run ``kernel`` compiled. Where that fails but the eager kernel runs, compilation is unavailable
    here: warn once, and run eagerly from then on. Where the eager kernel fails too, the error is
    the caller's, and it is raised as the eager path raises it."""
    if not _COMPILE_FAILED:
        try:
            # Each update function is its own code object with its own recompile budget; dtypes
            # and static switches (convention, weight-decay mode, AMSGrad's max) may need > 8 graphs.
            with torch._dynamo.config.patch(recompile_limit=64):
                _compiled(kernel)(param, grad, **tensors, **_as_kernel_args(hyper, param, tensors=True))
            return
        except Exception as err:  # noqa: BLE001 - judged below by whether the eager kernel runs
            kernel(param, grad, **tensors, **_as_kernel_args(hyper, param, tensors=False))
            _COMPILE_FAILED.append(f"{type(err).__name__}: {err}".splitlines()[0][:300])
            warnings.warn(
                "sgdlab: torch.compile is unavailable here, so optimizers run their eager (unfused) "
                f"update; pass fused=False to silence this. Reason: {_COMPILE_FAILED[0]}",
                RuntimeWarning, stacklevel=5,
            )
            return
    kernel(param, grad, **tensors, **_as_kernel_args(hyper, param, tensors=False))


def _as_kernel_args(hyper: dict[str, Any], like: Tensor, tensors: bool) -> dict[str, Any]:
    """Numbers become 0-d tensors for the compiled kernel (so that a new lr or step count does not
    recompile it), sequences of numbers 1-D tensors; switches (bools, None, strings) stay static."""
    dtype = torch.promote_types(like.dtype, torch.float32)
    out = {}
    for key, value in hyper.items():
        if isinstance(value, tuple):
            out[key] = torch.tensor(value, dtype=dtype, device=like.device)
        elif tensors and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = torch.tensor(value, dtype=dtype, device=like.device)
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------------------------------
# Flat buffers

_get_grad = operator.attrgetter("grad")



class _Bucket:
    """The parameters of one (param group, device, dtype): one flat parameter buffer, one flat gradient
    buffer, flat state buffers and a per-parameter step count, all in the same layout."""

    def __init__(self, params: list[Tensor], positions: list[int]):
        self.params = params
        self.positions = positions  # index of each parameter in its param group, for error messages
        self.numels = [p.numel() for p in params]
        self.offsets = [0]
        for n in self.numels:
            self.offsets.append(self.offsets[-1] + n)
        first = params[0]
        size = self.offsets[-1]
        self.flat = torch.empty(size, dtype=first.dtype, device=first.device)
        self.grad = torch.zeros(size, dtype=first.dtype, device=first.device)
        for p, lo, hi in zip(params, self.offsets, self.offsets[1:]):
            self.flat[lo:hi].copy_(p.detach().reshape(-1))
            p.data = self.flat[lo:hi].view(p.shape)
        self.state: dict[str, Tensor] = {}
        # Per-parameter scalars (``step``, Nadam's ``mu_product``): torch.optim keeps each as a float32
        # CPU tensor per parameter; ours are views into one tensor per name, so that a step updates
        # them all with one kernel.
        self.scalars: dict[str, Tensor] = {"step": torch.zeros(len(params), dtype=torch.float32)}
        #: Whether every parameter has taken the same number of steps (then a full step is one run).
        self.uniform_steps = True
        self.grad_views = [self.view(self.grad, i) for i in range(len(params))]
        itemsize = self.flat.element_size()
        self._nonempty = [p for p, n in zip(params, self.numels) if n]
        self._ptrs = [self.flat.data_ptr() + lo * itemsize for lo, n in zip(self.offsets, self.numels) if n]

    def intact(self) -> bool:
        """False when something rebound a parameter's data (``model.to(...)``, ``p.data = ...``).
        (Runs every step: ``map`` keeps the loop in C, ~0.3 ms for 5000 parameters.)"""
        return list(map(Tensor.data_ptr, self._nonempty)) == self._ptrs

    def view(self, buffer: Tensor, i: int) -> Tensor:
        lo, hi = self.offsets[i], self.offsets[i + 1]
        shape = self.params[i].shape
        if buffer.dim() == 1:
            return buffer[lo:hi].view(shape)
        return buffer[:, lo:hi].view(buffer.shape[0], *shape)

    def gather_grads(self) -> tuple[list[bool] | None, list[int]]:
        """Bring every dense gradient into the flat gradient buffer and make ``p.grad`` a view of it.

        Returns which parameters have a dense gradient this step (``None``: all of them, the common
        case, found with one identity check per parameter), and the indices of those whose gradient
        is sparse (they take the row-wise path)."""
        if all(map(operator.is_, map(_get_grad, self.params), self.grad_views)):
            return None, []
        dense = [False] * len(self.params)
        sparse: list[int] = []
        dst: list[Tensor] = []
        src: list[Tensor] = []
        for i, (p, view) in enumerate(zip(self.params, self.grad_views)):
            g = p.grad
            if g is None:
                continue
            if g.is_sparse:
                sparse.append(i)
                continue
            dense[i] = True
            if g is not view:
                dst.append(view)
                src.append(g)
                p.grad = view
        if dst:
            torch._foreach_copy_(dst, src)
        if all(dense):
            return None, []
        return dense, sparse

    def zero_grads(self) -> None:
        self.grad.zero_()
        for p, view in zip(self.params, self.grad_views):
            if p.grad is not None and p.grad is not view:
                p.grad.zero_()


# --------------------------------------------------------------------------------------------------
# The optimizer base class


def _unless_compiling(method: Callable) -> Callable:
    """torch.optim.Optimizer's ``method`` without its ``torch._disable_dynamo`` wrapper, whose first
    call imports torch._dynamo (~1 s); under torch.compile, the wrapped method, as torch means it."""
    plain = getattr(method, "__wrapped__", method)

    def call(*args: Any, **kwargs: Any) -> Any:
        return (method if torch.compiler.is_compiling() else plain)(*args, **kwargs)

    return call


_optimizer_add_param_group = _unless_compiling(Optimizer.add_param_group)
_optimizer_zero_grad = _unless_compiling(Optimizer.zero_grad)


class FlatOptimizer(Optimizer):
    """Base class of every sgdlab optimizer: a ``torch.optim.Optimizer`` on flat buffers.

    A subclass declares:

    * ``DEFAULTS``: ``{convention: {hyper-parameter: default}}`` for each convention it supports;
    * ``paper`` and ``equations``: the reference and the update of the paper convention (they are
      appended to the class docstring and printed by ``sgdlab optimizers``);
    * ``state_names(group)``: the state buffers (torch.optim's names) and how to initialise them;
    * ``validate(group)``: hyper-parameter checks beyond lr / eps / weight_decay;
    * ``kernel``: the algorithm's elementwise update function, ``kernel(param, grad, **state,
      **hyper, decay=..., weight_decay=...)``, mutating its tensors in place;
    * ``hyper(group, step, scalars)``: the scalars (and static switches) of one step for ``kernel``.

    The engine runs ``kernel`` eagerly (the reference path) or compiled into one fused kernel (the
    fast path, ``fused``): the same function either way.
    """

    DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {}
    paper: ClassVar[str] = ""
    equations: ClassVar[str] = ""
    supports_sparse: ClassVar[bool] = False
    #: Per-parameter scalar state besides ``step`` (``{name: initial value}``). The update receives,
    #: under each name, a 1-D tensor with one entry per parameter of the run, to update in place.
    scalar_state: ClassVar[dict[str, float]] = {}
    #: How ``weight_decay`` acts under each convention: "l2" adds ``weight_decay * theta`` to the
    #: gradient (torch.optim, and the papers where they speak of it), "decoupled" shrinks the
    #: parameters by ``lr * weight_decay`` before the update (Keras 3, and AdamW everywhere).
    WEIGHT_DECAY: ClassVar[dict[str, str]] = {"paper": "l2", "torch": "l2", "keras": "decoupled"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.DEFAULTS and cls.__doc__ and cls.equations:
            cls.__doc__ = cls.__doc__.rstrip() + "\n\n" + describe(cls, indent="    ")

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        *,
        convention: str = "paper",
        nonfinite: str = "apply",
        fused: bool | None = None,
        **hyper: Any,
    ) -> None:
        if convention not in CONVENTIONS:
            raise ValueError(f"Invalid convention: {convention!r} (expected one of {CONVENTIONS})")
        if convention not in self.DEFAULTS:
            have = tuple(self.DEFAULTS)
            raise ValueError(
                f"Invalid convention: {convention!r} for {type(self).__name__}: neither torch.optim "
                f"nor Keras has this algorithm (available: {have})"
            )
        if nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"Invalid nonfinite: {nonfinite!r} (expected one of {NONFINITE_POLICIES})")
        if fused not in (None, True, False):
            raise ValueError(f"Invalid fused: {fused!r} (expected None, True or False)")
        defaults = dict(self.DEFAULTS[convention])
        defaults.update({k: v for k, v in hyper.items() if v is not None})
        self.convention = convention
        self.nonfinite = nonfinite
        #: True: every step runs the compiled update; False: the eager reference path; None (default):
        #: compiled for buckets of at least ``FUSED_MIN_NUMEL`` elements.
        self.fused = fused
        #: Steps left out by ``nonfinite="skip"`` because a gradient held inf or NaN.
        self.skipped_steps = 0
        self._buckets: list[list[_Bucket]] = []
        super().__init__(params, defaults)

    # ---- torch.optim.Optimizer API ----------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _optimizer_add_param_group(self, param_group)
        group = self.param_groups[-1]
        try:
            self._validate_group(group)
        except ValueError:
            self.param_groups.pop()
            raise
        self._buckets.append(self._make_buckets(group))

    def zero_grad(self, set_to_none: bool = True) -> None:
        if set_to_none:
            _optimizer_zero_grad(self, set_to_none=True)
            return
        for buckets in self._buckets:
            for bucket in buckets:
                bucket.zero_grads()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for gi in range(len(self.param_groups)):
            self._validate_group(self.param_groups[gi])
            for bucket in self._buckets[gi]:
                self._adopt_state(gi, bucket)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if torch.compiler.is_compiling():
            self._step_outside_graph()
        else:
            self._step()
        return loss

    def _step(self) -> None:
        work = []
        for gi, group in enumerate(self.param_groups):
            for bucket in self._current_buckets(gi):
                dense, sparse = bucket.gather_grads()
                if sparse:
                    self._check_sparse_allowed(gi, group, bucket, sparse)
                if dense is None or any(dense) or sparse:
                    work.append((gi, group, bucket, dense, sparse))
        if self.nonfinite != "apply" and not self._all_finite(work):
            if self.nonfinite == "raise":
                self._raise_nonfinite(work)
            self.skipped_steps += 1
            return
        for _, group, bucket, dense, sparse in work:
            self._step_bucket(group, bucket, dense, sparse)

    # Inside a torch.compile'd training step, the engine's bookkeeping (pointer checks, run splitting)
    # runs eagerly, as one graph break; the update itself is its own compiled kernel. The lazy form of
    # torch.compiler.disable: torch._dynamo (~1 s to import) is loaded only when something compiles.
    _step_outside_graph = torch._disable_dynamo(_step)

    # ---- what subclasses provide ------------------------------------------------------------------

    def state_names(self, group: dict[str, Any]) -> dict[str, float | tuple[int, float]]:
        """State buffers of a group: ``{name: initial value}``, or ``{name: (K, initial value)}`` for a
        buffer with K rows per element (AggMo's K velocities)."""
        raise NotImplementedError

    def validate(self, group: dict[str, Any]) -> None:
        """Checks of the algorithm's own hyper-parameters; ``ValueError`` naming argument and value."""

    kernel: ClassVar[Callable[..., None]]

    def hyper(self, group: dict[str, Any], step: int, scalars: dict[str, Tensor]) -> dict[str, Any]:
        """The keyword arguments of ``kernel`` for one step: numbers (which the fast path passes as
        0-d tensors), tuples of numbers, and static switches. ``scalars`` holds the per-parameter
        scalar state of the run (``scalar_state``), to be updated in place."""
        raise NotImplementedError

    # ---- internals --------------------------------------------------------------------------------

    def _validate_group(self, group: dict[str, Any]) -> None:
        if group.get("convention", self.convention) != self.convention:
            raise ValueError(
                f"Invalid convention: {group['convention']!r} in a param group (the optimizer's "
                f"convention is {self.convention!r}; it cannot differ between groups)"
            )
        check_nonnegative("learning rate lr", group["lr"])
        for name in ("eps", "weight_decay"):
            if name in group:
                check_nonnegative(name, group[name])
        self.validate(group)

    def _make_buckets(self, group: dict[str, Any]) -> list[_Bucket]:
        by_kind: dict[tuple[torch.device, torch.dtype], tuple[list[Tensor], list[int]]] = {}
        for pos, p in enumerate(group["params"]):
            params, positions = by_kind.setdefault((p.device, p.dtype), ([], []))
            params.append(p)
            positions.append(pos)
        return [_Bucket(params, positions) for params, positions in by_kind.values()]

    def _current_buckets(self, gi: int) -> list[_Bucket]:
        """The group's buckets, rebuilt (state carried over) if a parameter was moved or rebound."""
        buckets = self._buckets[gi]
        if all(b.intact() for b in buckets):
            return buckets
        group = self.param_groups[gi]
        for p in group["params"]:  # detach the state from the old buffers before they go
            st = self.state.get(p)
            if st:
                self.state[p] = {k: v.clone() for k, v in st.items()}
        self._buckets[gi] = self._make_buckets(group)
        for bucket in self._buckets[gi]:
            self._adopt_state(gi, bucket)
        return self._buckets[gi]

    def _allocate_state(self, group: dict[str, Any], bucket: _Bucket) -> bool:
        """Allocate the bucket's missing state buffers, filled with their initial values; True if any
        was missing."""
        size = bucket.flat.numel()
        missing = False
        for name, init in self.state_names(group).items():
            if name in bucket.state:
                continue
            missing = True
            rows, value = init if isinstance(init, tuple) else (None, init)
            shape = (size,) if rows is None else (rows, size)
            bucket.state[name] = torch.full(shape, float(value), dtype=bucket.flat.dtype,
                                            device=bucket.flat.device)
        for name, value in self.scalar_state.items():
            if name not in bucket.scalars:
                missing = True
                bucket.scalars[name] = torch.full((len(bucket.params),), value, dtype=torch.float32)
        return missing

    def _expose_state(self, bucket: _Bucket) -> None:
        """Per-parameter views of the flat state in ``self.state``, under torch.optim's names."""
        for i, p in enumerate(bucket.params):
            st = self.state[p]
            for name, values in bucket.scalars.items():
                st[name] = values[i]
            for name, buf in bucket.state.items():
                st[name] = bucket.view(buf, i)

    def _adopt_state(self, gi: int, bucket: _Bucket) -> None:
        """Copy state that torch's ``load_state_dict`` (or a rebuild) put in ``self.state`` into the
        bucket's flat buffers, and replace it by views."""
        loaded = [self.state.get(p) for p in bucket.params]
        if not any(loaded):
            return
        bucket.state.clear()
        bucket.scalars = {"step": bucket.scalars["step"]}
        self._allocate_state(self.param_groups[gi], bucket)
        for i, st in enumerate(loaded):
            if not st:
                continue
            for name, values in bucket.scalars.items():
                if name in st:
                    values[i] = _scalar(st[name])
            for name, buf in bucket.state.items():
                if name not in st:
                    continue
                view = bucket.view(buf, i)
                value = st[name]
                if not isinstance(value, Tensor) or value.numel() != view.numel():
                    got = value.numel() if isinstance(value, Tensor) else type(value).__name__
                    raise ValueError(
                        f"Invalid state_dict: state {name!r} of {self._param_name(gi, bucket, i)} "
                        f"has {got} elements, expected {view.numel()}"
                    )
                view.copy_(value.reshape(view.shape))
        bucket.uniform_steps = False
        self._expose_state(bucket)

    def _param_name(self, gi: int, bucket: _Bucket, i: int) -> str:
        group = self.param_groups[gi]
        pos = bucket.positions[i]
        names = group.get("param_names")
        if names:
            return f"parameter '{names[pos]}'"
        shape = tuple(bucket.params[i].shape)
        return f"parameter {pos} of param group {gi} (shape {shape})"

    def _check_sparse_allowed(self, gi: int, group: dict[str, Any], bucket: _Bucket,
                              sparse: list[int]) -> None:
        who = self._param_name(gi, bucket, sparse[0])
        if not self.supports_sparse or not self.sparse_ok(group):
            raise RuntimeError(
                f"{type(self).__name__} does not support sparse gradients, and {who} has one. "
                "Use sgdlab.optim.Adagrad (or SGD), which update only the touched rows, or make "
                "the layer dense (e.g. nn.Embedding(sparse=False))."
            )
        if _scalar(group.get("weight_decay", 0.0)) != 0.0:
            raise RuntimeError(
                f"weight_decay={group['weight_decay']!r} is not compatible with the sparse gradient "
                f"of {who}: it would touch every row. Set weight_decay=0 for that param group."
            )

    def sparse_ok(self, group: dict[str, Any]) -> bool:
        """Whether this group's hyper-parameters admit the row-wise sparse path."""
        return True

    def _all_finite(self, work: list) -> bool:
        checks = []
        for _, _, bucket, dense, sparse in work:
            for _, _, lo, hi, _ in _runs(bucket, dense, None):
                checks.append(torch.isfinite(bucket.grad[lo:hi]).all())
            for i in sparse:
                checks.append(torch.isfinite(bucket.params[i].grad.coalesce().values()).all())
        return bool(torch.stack(checks).all()) if checks else True

    def _raise_nonfinite(self, work: list) -> None:
        for gi, _, bucket, dense, sparse in work:
            for i, p in enumerate(bucket.params):
                if dense is None or dense[i] or i in sparse:
                    g = p.grad.coalesce().values() if i in sparse else p.grad
                    if not bool(torch.isfinite(g).all()):
                        raise FloatingPointError(
                            f"non-finite gradient (inf or NaN) in {self._param_name(gi, bucket, i)}; "
                            "no parameter was updated (nonfinite='raise')"
                        )

    def _step_bucket(self, group: dict[str, Any], bucket: _Bucket, dense: list[bool],
                     sparse: list[int]) -> None:
        if self._allocate_state(group, bucket) or "step" not in self.state[bucket.params[0]]:
            self._expose_state(bucket)
        steps = bucket.scalars["step"]
        if dense is None:
            steps.add_(1)
            if not bucket.uniform_steps:
                bucket.uniform_steps = bool((steps == steps[0]).all())
        else:
            steps[[i for i, d in enumerate(dense) if d] + sparse] += 1
            bucket.uniform_steps = False
        if dense is None and bucket.uniform_steps:
            counts = None
            runs = [(0, len(bucket.params), 0, bucket.flat.numel(), int(steps[0]))]
        else:
            counts = steps.tolist()
            runs = _runs(bucket, dense, counts)
        names = list(self.state_names(group))
        fast = self._use_fused(bucket)
        for first, last, lo, hi, step in runs:
            tensors = {name: bucket.state[name][..., lo:hi] for name in names}
            scalars = {name: v[first:last] for name, v in bucket.scalars.items() if name != "step"}
            self._apply(group, bucket.flat[lo:hi], bucket.grad[lo:hi], tensors, scalars, step, fast)
        for i in sparse:
            self._sparse_step(group, bucket, i, int(counts[i]))

    def _use_fused(self, bucket: _Bucket) -> bool:
        if self.fused is None:
            return bucket.flat.numel() >= FUSED_MIN_NUMEL and compile_available()
        return self.fused

    def _apply(self, group: dict[str, Any], param: Tensor, grad: Tensor, tensors: dict[str, Tensor],
               scalars: dict[str, Tensor], step: int, fast: bool) -> None:
        """One call of the algorithm's update on a run: compiled (``fast``) or eager."""
        hyper = self.hyper(group, step, scalars)
        wd = _scalar(group.get("weight_decay", 0.0))
        if wd != 0.0:
            hyper["decay"] = self.WEIGHT_DECAY[self.convention]
            hyper["weight_decay"] = wd if hyper["decay"] == "l2" else self.decoupled_decay_factor(group)
        if fast:
            _run_fused(self.kernel, param, grad, tensors, hyper)
        else:
            self.kernel(param, grad, **tensors, **_as_kernel_args(hyper, param, tensors=False))

    def decoupled_decay_factor(self, group: dict[str, Any]) -> float:
        """theta <- theta * (1 - factor) before the update, for decoupled weight decay."""
        return _scalar(group["lr"]) * _scalar(group["weight_decay"])

    def _sparse_step(self, group: dict[str, Any], bucket: _Bucket, i: int, step: int) -> None:
        """The same update, applied to the rows a sparse gradient touches."""
        p = bucket.params[i]
        g = p.grad.coalesce()
        sparse_shape = p.shape[: g.sparse_dim()]
        rows_total = math.prod(sparse_shape)
        index = g.indices()
        if g.sparse_dim() > 1:
            strides = torch.tensor([math.prod(sparse_shape[d + 1:]) for d in range(len(sparse_shape))],
                                   device=index.device)
            rows = (index * strides[:, None]).sum(0)
        else:
            rows = index[0]
        values = g.values().reshape(rows.numel(), -1)
        param2d = bucket.view(bucket.flat, i).view(rows_total, -1)
        state2d = {name: bucket.view(bucket.state[name], i).view(rows_total, -1)
                   for name in self.state_names(group)}
        param_rows = param2d.index_select(0, rows)
        state_rows = {name: s.index_select(0, rows) for name, s in state2d.items()}
        scalars = {name: v[i:i + 1] for name, v in bucket.scalars.items() if name != "step"}
        self._apply(group, param_rows, values, state_rows, scalars, step, fast=False)
        param2d.index_copy_(0, rows, param_rows)
        for name, s in state2d.items():
            s.index_copy_(0, rows, state_rows[name])



def _runs(bucket: _Bucket, dense: Sequence[bool] | None, steps: Sequence[float] | None):
    """Maximal stretches of consecutive parameters with a dense gradient (``dense=None``: all of them)
    and, when ``steps`` is given, the same step count: the unit the update runs on. Yields ``(first,
    last, lo, hi, step)``: parameter indices ``first:last``, their elements ``lo:hi`` in the flat
    buffers, and their step count (0 without ``steps``)."""
    n = len(bucket.params)
    start = None
    for i in range(n + 1):
        has_grad = i < n and (dense is None or dense[i])
        boundary = (
            not has_grad
            or (start is not None and steps is not None and steps[i] != steps[start])
        )
        if start is not None and boundary:
            yield start, i, bucket.offsets[start], bucket.offsets[i], int(steps[start]) if steps else 0
            start = None
        if has_grad and start is None:
            start = i


# --------------------------------------------------------------------------------------------------
# Descriptions (docstrings, ``sgdlab optimizers``)


def describe(cls: type[FlatOptimizer], indent: str = "") -> str:
    """The paper, the update equations and the defaults of each convention, as plain text."""
    lines = ['Update (convention="paper")::', ""]
    lines += ["    " + line for line in cls.equations.strip().splitlines()]
    lines += ["", f"Reference: {cls.paper}", "", "Defaults by convention::", ""]
    for conv, defaults in cls.DEFAULTS.items():
        shown = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
        lines.append(f"    {conv:6s} {shown}")
    return "\n".join(indent + line if line else "" for line in lines)
