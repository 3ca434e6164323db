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

import inspect
import math
import operator
import textwrap
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.optim import Optimizer

from .._validation import (ArgumentError, ArgumentValueError, Bool, Constraint, Options, Real, Seq, Subclass,
                           argument_error, check)
from .._validation import describe as constraint_words

CONVENTIONS = ("paper", "torch", "keras")
NONFINITE_POLICIES = ("apply", "skip", "raise")
#: The initial value of a state buffer that starts as a copy of the parameters (``state_names``).
COPY_OF_PARAMS = "params"


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
# Arguments: each declared once, with the values it accepts and its meaning. A class lists its
# hyper-parameters in ``ARGS``; from them the engine builds the class's signature, its Args section and
# the checks of its constructor, of the param groups added later and of a loaded state.


@dataclass(frozen=True)
class Arg:
    """One argument of the optimizers: its ``name``, the values it ``accepts`` (a constraint of
    :mod:`sgdlab._validation`, or a tuple of alternatives, ``None`` among them for None), its meaning
    ``doc`` (a phrase, for the Args section) and its ``default`` in the signature (``None`` for a
    hyper-parameter: the default of the convention, from the class's ``DEFAULTS``)."""

    name: str
    accepts: Constraint | tuple[Constraint | None, ...]
    doc: str
    default: Any = None

    def check(self, value: Any) -> Any:
        """``value`` in its plain form (``np.float32(0.5)`` -> ``0.5``), or ``ArgumentTypeError`` /
        ``ArgumentValueError`` naming this argument, the value and what it accepts."""
        return check(self.name, value, *self._alternatives)

    def words(self) -> str:
        """What it accepts, in words: "a finite number >= 0"."""
        return constraint_words(*self._alternatives)

    @property
    def _alternatives(self) -> tuple[Constraint | None, ...]:
        return self.accepts if isinstance(self.accepts, tuple) else (self.accepts,)

    def documented(self, doc: str) -> Arg:
        """The same argument, its meaning said for one algorithm: ``LR.documented("the learning rate
        alpha")``."""
        return replace(self, doc=doc)


DECAY_RATE = Real(0, 1, closed="left")

# The hyper-parameters several algorithms share; the others are declared with their algorithm.
LR = Arg("lr", Real(0), "the learning rate eta (a one-element tensor too, as in torch.optim)")
EPS = Arg("eps", Real(0), "the smoothing term epsilon, which keeps the denominator away from 0")
_L2 = "lambda, the L2 penalty added to the gradient, g_t + lambda theta"
WEIGHT_DECAY = Arg("weight_decay", Real(0), f'{_L2} (decoupled under convention="keras": theta shrinks by '
                   "lr lambda before the update)")
L2_WEIGHT_DECAY = WEIGHT_DECAY.documented(_L2)  # for the algorithms with the paper convention only
MOMENTUM = Arg("momentum", DECAY_RATE, "the momentum term gamma")
BETAS = Arg("betas", Seq(DECAY_RATE, length=2),
            "(beta1, beta2), the decay rates of the moment estimates m_t and v_t")

# The engine's own arguments, keyword-only after the hyper-parameters.
CONVENTION = Arg("convention", Options(*CONVENTIONS),
                 'whose update and defaults: "paper" (the papers), "torch" (torch.optim) or "keras" (Keras '
                 "3), as tabulated in docs/conventions.md", default="paper")
NONFINITE = Arg("nonfinite", Options(*NONFINITE_POLICIES),
                'what a step does when a gradient holds inf or NaN: "apply" it (as torch.optim), "skip" '
                'the step (counted in skipped_steps) or "raise" FloatingPointError', default="apply")
FUSED = Arg("fused", (Bool(), None),
            "True runs the update compiled (torch.compile) into one fused kernel, False the eager "
            f"reference path, None the compiled one for buckets of at least {FUSED_MIN_NUMEL:,} elements")
OPTIONS = (CONVENTION, NONFINITE, FUSED)

PARAMS_DOC = ("the parameters to optimize (tensors, or (name, tensor) pairs), or param groups: dicts of "
              '"params" and any hyper-parameters below, as for every torch.optim.Optimizer')

#: Whose algorithm each convention follows, for messages.
_LIBRARY = {"paper": "the papers", "torch": "torch.optim", "keras": "Keras"}


def _signature(args: Sequence[Arg]) -> inspect.Signature:
    """``(params, <args>=None, ..., *, convention="paper", nonfinite="apply", fused=None)``: the
    hyper-parameters positional, as in torch.optim (``Adam(params, 1e-3)``), the engine's keyword-only."""
    kind = inspect.Parameter
    return inspect.Signature(
        [kind("params", kind.POSITIONAL_OR_KEYWORD)]
        + [kind(a.name, kind.POSITIONAL_OR_KEYWORD, default=a.default) for a in args]
        + [kind(a.name, kind.KEYWORD_ONLY, default=a.default) for a in OPTIONS]
    )


def _defaults_text(cls: type[FlatOptimizer], name: str) -> str:
    """``0.001``, or by convention: ``1e-08 (paper, torch), 1e-07 (keras)``."""
    by_value: dict[str, list[str]] = {}
    for convention, defaults in cls.DEFAULTS.items():
        if name in defaults:
            by_value.setdefault(repr(defaults[name]), []).append(convention)
    refused = [f'convention="{c}"' for c, defaults in cls.DEFAULTS.items() if name not in defaults]
    if len(by_value) == 1 and not refused:
        return next(iter(by_value))
    text = ", ".join(f"{value} ({', '.join(conventions)})" for value, conventions in by_value.items())
    return text + ("; refused under " + " and ".join(refused) if refused else "")


def _args_section(cls: type[FlatOptimizer]) -> str:
    """The Args section of ``cls``'s docstring, from its ``ARGS`` and the engine's ``OPTIONS``."""
    entries = [f"params: {PARAMS_DOC}."]
    entries += [f"{a.name}: {a.doc}; {a.words()}. Default: {_defaults_text(cls, a.name)}." for a in cls.ARGS]
    for a in OPTIONS:  # the conventions a class has are those of its DEFAULTS
        words = str(Options(*cls.DEFAULTS)) if a is CONVENTION else a.words()
        entries.append(f"{a.name}: {a.doc}; {words}. Default: {a.default!r}.")
    lines = ["Args:"]
    for entry in entries:
        lines += textwrap.wrap(entry, 100, initial_indent="    ", subsequent_indent="        ",
                               break_on_hyphens=False)
    return "\n".join(lines)


def _document(cls: type[FlatOptimizer]) -> str:
    """``cls``'s docstring: its text, the Args section (before the Example), then :func:`describe`."""
    head, example, tail = inspect.cleandoc(cls.__doc__).partition("\nExample:")
    return (f"{head.rstrip()}\n\nHyper-parameters left None take the default of the convention.\n\n"
            f"{_args_section(cls)}\n{example}{tail}\n\n{describe(cls)}")


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

    * ``ARGS``: its hyper-parameters (:class:`Arg`: name, accepted values, meaning), in the order of
      its signature. The engine makes of them the signature (``inspect.signature(cls)``: ``params``,
      each hyper-parameter defaulting to None, then the keyword-only ``OPTIONS`` ``convention``,
      ``nonfinite`` and ``fused``), the Args section of the docstring, and the checks of the
      constructor, of ``add_param_group`` and of ``load_state_dict``;
    * ``DEFAULTS``: ``{convention: {hyper-parameter: default}}`` for each convention it supports; a
      hyper-parameter that a convention has no default for is refused under it;
    * ``paper`` and ``equations``: the reference and the update of the paper convention (they are
      appended to the class docstring and printed by ``sgdlab optimizers``);
    * ``state_names(group)``: the state buffers (torch.optim's names) and how to initialise them;
    * ``NAME``, optionally: its name for :func:`sgdlab.optim.create` (default: the lower-case class
      name);
    * ``kernel``: the algorithm's elementwise update function, ``kernel(param, grad, **state,
      **hyper, decay=..., weight_decay=...)``, mutating its tensors in place;
    * ``hyper(group, step, scalars)``: the scalars (and static switches) of one step for ``kernel``.

    The engine runs ``kernel`` eagerly (the reference path) or compiled into one fused kernel (the
    fast path, ``fused``): the same function either way. A new optimizer is those declarations and
    no ``__init__``; its class docstring is its description and an ``Example:``.
    """

    ARGS: ClassVar[tuple[Arg, ...]] = ()
    DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {}
    paper: ClassVar[str] = ""
    equations: ClassVar[str] = ""
    supports_sparse: ClassVar[bool] = False
    #: The name :func:`sgdlab.optim.create` knows it by (set from the class name unless declared).
    NAME: ClassVar[str] = ""
    #: Per-parameter scalar state besides ``step``: ``{name: initial value}`` (a float32 tensor, as
    #: torch.optim keeps such scalars) or ``{name: (initial value, dtype)}``. The update's ``hyper``
    #: receives, under each name, a 1-D tensor with one entry per parameter of the run, to update in
    #: place.
    scalar_state: ClassVar[dict[str, float | tuple[float, torch.dtype]]] = {}
    #: How ``weight_decay`` acts under each convention: "l2" adds ``weight_decay * theta`` to the
    #: gradient (torch.optim, and the papers where they speak of it), "decoupled" shrinks the
    #: parameters by ``lr * weight_decay`` before the update (Keras 3, and AdamW everywhere); any
    #: other mode is the update's own, which gets ``weight_decay`` as it is (see :meth:`decay_mode`).
    DECAY_MODE: ClassVar[dict[str, str]] = {"paper": "l2", "torch": "l2", "keras": "decoupled"}
    #: The signature ``__init__`` binds its arguments with (built from ``ARGS``).
    _init_signature: ClassVar[inspect.Signature] = _signature(())

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = {a.name for a in cls.ARGS}
        defaulted = {name for defaults in cls.DEFAULTS.values() for name in defaults}
        if cls.DEFAULTS and declared != defaulted:
            raise TypeError(f"{cls.__name__}: ARGS declare {sorted(declared)} but DEFAULTS give "
                            f"{sorted(defaulted)}")
        if "NAME" not in cls.__dict__:
            cls.NAME = cls.__name__.lower()
        cls._init_signature = _signature(cls.ARGS)
        # What help() and inspect.signature show; a subclass with its own __init__ shows that one.
        cls.__signature__ = None if "__init__" in cls.__dict__ else cls._init_signature
        if cls.DEFAULTS and cls.__doc__ and cls.equations:
            cls.__doc__ = _document(cls)

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], *args: Any,
                 **kwargs: Any) -> None:
        # The signature is the class's (``inspect.signature(type(self))``), built from its ARGS.
        try:
            given = self._init_signature.bind(params, *args, **kwargs)
        except TypeError as err:
            raise TypeError(f"{type(self).__name__}(): {err}") from None
        given.apply_defaults()
        options = {a.name: a.check(given.arguments.pop(a.name)) for a in OPTIONS}
        convention = options["convention"]
        if convention not in self.DEFAULTS:
            raise argument_error("convention", convention, f"{Options(*self.DEFAULTS)}: "
                                 f"{_LIBRARY[convention]} has no {type(self).__name__}")
        self.convention = convention
        self.nonfinite = options["nonfinite"]
        #: True: every step runs the compiled update; False: the eager reference path; None (default):
        #: compiled for buckets of at least ``FUSED_MIN_NUMEL`` elements.
        self.fused = options["fused"]
        #: Steps left out by ``nonfinite="skip"`` because a gradient held inf or NaN.
        self.skipped_steps = 0
        self._buckets: list[list[_Bucket]] = []
        params = given.arguments.pop("params")
        hyper = {name: value for name, value in given.arguments.items() if value is not None}
        super().__init__(params, {**self.DEFAULTS[convention], **self._checked(hyper)})

    # ---- torch.optim.Optimizer API ----------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _optimizer_add_param_group(self, param_group)
        group = self.param_groups[-1]
        try:
            self._validate_group(group)
        except ArgumentError:
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
        # torch.optim casts every loaded state tensor but "step" to its parameter's dtype; a scalar
        # state kept in float64 (Schedule-Free's weight sums) would lose its digits in a float32 model.
        # Passed on as Python floats, they are loaded as they were saved.
        names = [name for name, init in self.scalar_state.items() if isinstance(init, tuple)]
        if names and "state" in state_dict:
            state_dict = {**state_dict, "state": {
                k: {n: (_scalar(v) if n in names and isinstance(v, Tensor) else v) for n, v in st.items()}
                for k, st in state_dict["state"].items()}}
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

    def state_names(self, group: dict[str, Any]) -> dict[str, float | tuple[int, float] | str]:
        """State buffers of a group: ``{name: initial value}``, ``{name: (K, initial value)}`` for a
        buffer with K rows per element (AggMo's K velocities), or ``{name: COPY_OF_PARAMS}`` for a
        buffer that starts as a copy of the parameters (Schedule-Free's z)."""
        raise NotImplementedError

    kernel: ClassVar[Callable[..., None]]

    def hyper(self, group: dict[str, Any], step: int, scalars: dict[str, Tensor]) -> dict[str, Any]:
        """The keyword arguments of ``kernel`` for one step: numbers (which the fast path passes as
        0-d tensors), tuples of numbers, and static switches. ``scalars`` holds the per-parameter
        scalar state of the run (``scalar_state``), to be updated in place."""
        raise NotImplementedError

    # ---- internals --------------------------------------------------------------------------------

    def _checked(self, hyper: dict[str, Any]) -> dict[str, Any]:
        """The hyper-parameters among ``hyper`` (a param group, or the constructor's), checked by
        their ``ARGS`` and in their plain form; one without a default under the convention is refused."""
        defaults = self.DEFAULTS[self.convention]
        checked = {}
        for arg in self.ARGS:
            if arg.name not in hyper:
                continue
            if arg.name not in defaults:
                others = " and ".join(f'"{c}"' for c, d in self.DEFAULTS.items() if arg.name in d)
                raise argument_error(arg.name, hyper[arg.name],
                                     f'None under convention="{self.convention}": {type(self).__name__} '
                                     f"has a {arg.name} under {others} only")
            checked[arg.name] = arg.check(hyper[arg.name])
        return checked

    def _validate_group(self, group: dict[str, Any]) -> None:
        if group.get("convention", self.convention) != self.convention:
            raise argument_error("convention", group["convention"],
                                 f'the optimizer\'s, "{self.convention}", in every param group')
        group.update(self._checked(group))

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
            if init == COPY_OF_PARAMS:
                bucket.state[name] = bucket.flat.clone()
                continue
            rows, value = init if isinstance(init, tuple) else (None, init)
            shape = (size,) if rows is None else (rows, size)
            bucket.state[name] = torch.full(shape, float(value), dtype=bucket.flat.dtype,
                                            device=bucket.flat.device)
        for name, init in self.scalar_state.items():
            if name not in bucket.scalars:
                missing = True
                value, dtype = init if isinstance(init, tuple) else (init, torch.float32)
                bucket.scalars[name] = torch.full((len(bucket.params),), value, dtype=dtype)
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
                    got = f"{value.numel()} elements" if isinstance(value, Tensor) else type(value).__name__
                    raise ArgumentValueError(
                        f"Invalid state_dict: state {name!r} of {self._param_name(gi, bucket, i)} "
                        f"has {got} (expected a tensor of {view.numel()} elements)"
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
        fast = self._use_fused(bucket)
        for first, last, lo, hi, step in runs:
            self._run(group, bucket, first, last, lo, hi, step, fast)
        for i in sparse:
            self._sparse_step(group, bucket, i, int(counts[i]))

    def _run(self, group: dict[str, Any], bucket: _Bucket, first: int, last: int, lo: int, hi: int,
             step: int, fast: bool) -> None:
        """The update on one run: parameters ``first:last`` of the bucket, elements ``lo:hi`` of its
        flat buffers, all at step ``step``. (The per-shape path of :mod:`.matrix` overrides this.)"""
        tensors = {name: bucket.state[name][..., lo:hi] for name in self.state_names(group)}
        scalars = {name: v[first:last] for name, v in bucket.scalars.items() if name != "step"}
        self._apply(group, bucket.flat[lo:hi], bucket.grad[lo:hi], tensors, scalars, step, fast)

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
            hyper["decay"] = self.decay_mode(group)
            hyper["weight_decay"] = self.decoupled_decay_factor(group) if hyper["decay"] == "decoupled" else wd
        if fast:
            _run_fused(self.kernel, param, grad, tensors, hyper)
        else:
            self.kernel(param, grad, **tensors, **_as_kernel_args(hyper, param, tensors=False))

    def decay_mode(self, group: dict[str, Any]) -> str:
        """How ``weight_decay`` acts in this group: ``DECAY_MODE`` of the convention, unless the
        algorithm has a switch for it (RAdam's ``decoupled_weight_decay``)."""
        return self.DECAY_MODE[self.convention]

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
    check("cls", cls, Subclass(FlatOptimizer, what="an sgdlab optimizer class"))
    lines = ['Update (convention="paper")::', ""]
    lines += ["    " + line for line in cls.equations.strip().splitlines()]
    lines += ["", f"Reference: {cls.paper}", "", "Defaults by convention::", ""]
    for conv, defaults in cls.DEFAULTS.items():
        shown = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
        lines.append(f"    {conv:6s} {shown}")
    return "\n".join(indent + line if line else "" for line in lines)
