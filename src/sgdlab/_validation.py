"""Argument validation for every public function, class and command of sgdlab: one grammar.

A parameter is declared by the values it accepts, after scikit-learn's ``_param_validation``::

    check("epochs", epochs, Int(1))                       # an int >= 1 (NumPy integers too)
    check("lr", lr, Real(0, closed="neither"))            # a finite number > 0
    check("betas", betas, Seq(Real(0, 1, closed="left"), length=2))
    check("loss", loss, Options("log", "hinge"))          # case-insensitive; returns the lower case
    check("timeout", timeout, Real(0), None)              # alternatives: a number >= 0 or None

or, for a whole function, ``@validate(epochs=Int(1), lr=Real(0, closed="neither"))``. ``check`` returns
the value in its plain Python form (``np.int64(3)`` -> ``3``), and raises, naming the argument, the value
and what was expected:

* ``TypeError`` when the value is of no accepted type:
  ``Invalid epochs: '3' of type str (expected an int >= 1)``;
* ``ValueError`` when its type is accepted but the value is not:
  ``Invalid epochs: 0 (expected an int >= 1)``.

Both are ArgumentErrors (:class:`ArgumentTypeError`, :class:`ArgumentValueError`), which the
command line shows as one line with exit code 2, never as a traceback: raise them (``argument_error``)
for any other problem with what the caller passed, a malformed file it named included.

Booleans are never numbers here (``True`` as an epoch count is a mistake), NumPy integers and floats
are accepted wherever Python's are, and numbers must be finite (``inf`` and ``nan`` are refused).
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ArgumentError", "ArgumentTypeError", "ArgumentValueError", "Bool", "Callable_", "Constraint", "Instance",
           "Int", "Options", "Real", "Seq", "Subclass", "argument_error", "check", "describe", "shown", "validate"]

_CLOSED = ("both", "left", "right", "neither")


class ArgumentError(Exception):
    """Something the caller passed is wrong: a value, its type, or a file it names."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of a type the function does not take."""


class ArgumentValueError(ArgumentError, ValueError):
    """An argument of the right type with a value the function does not take (or a file it names
    that cannot be read as what it should be)."""


def argument_error(name: str, value: Any, expected: str) -> ArgumentValueError:
    """The ``ValueError`` of the one grammar, for checks no constraint expresses (raise it):

    >>> raise argument_error("workers", 5, "at most the 4 training examples")
    Traceback (most recent call last):
        ...
    sgdlab._validation.ArgumentValueError: Invalid workers: 5 (expected at most the 4 training examples)
    """
    return ArgumentValueError(f"Invalid {name}: {shown(value)} (expected {expected})")


def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


class Constraint:
    """What one alternative accepts. ``accepts_type`` says whether ``value`` is of a type this
    alternative takes (deciding TypeError against ValueError); ``accepts`` whether it is accepted;
    ``convert`` returns it in its plain form."""

    def accepts_type(self, value: Any) -> bool:
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        return self.accepts_type(value)

    def convert(self, value: Any) -> Any:
        return value

    def __str__(self) -> str:
        raise NotImplementedError


class Int(Constraint):
    """An integer (Python or NumPy, not a bool) in ``[low, high]`` (None: unbounded)."""

    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        self.low, self.high = low, high

    def accepts_type(self, value: Any) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    def accepts(self, value: Any) -> bool:
        return self.accepts_type(value) and (self.low is None or value >= self.low) and \
            (self.high is None or value <= self.high)

    def convert(self, value: Any) -> int:
        return int(value)

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return f"an int in [{self.low}, {self.high}]"
        if self.low is not None:
            return f"an int >= {self.low}"
        if self.high is not None:
            return f"an int <= {self.high}"
        return "an int"


class Real(Constraint):
    """A finite real number (int, float, NumPy number, or a one-element real tensor; not a bool) in the
    interval from ``low`` to ``high`` (None: unbounded), ``closed`` on "both" sides (default), the
    "left", the "right" or "neither"."""

    def __init__(self, low: float | None = None, high: float | None = None, *, closed: str = "both") -> None:
        if closed not in _CLOSED:
            raise ValueError(f"Invalid closed: {closed!r} (expected one of {', '.join(map(repr, _CLOSED))})")
        self.low, self.high, self.closed = low, high, closed

    def accepts_type(self, value: Any) -> bool:
        if _is_tensor(value):
            return value.numel() == 1 and not value.is_complex() and value.dtype != _torch_bool()
        return isinstance(value, numbers.Real) and not isinstance(value, bool)

    def accepts(self, value: Any) -> bool:
        if not self.accepts_type(value):
            return False
        x = float(value.item()) if _is_tensor(value) else float(value)
        if not math.isfinite(x):
            return False
        if self.low is not None and (x < self.low or (x == self.low and self.closed in ("right", "neither"))):
            return False
        return self.high is None or not (x > self.high or (x == self.high and self.closed in ("left", "neither")))

    def convert(self, value: Any) -> Any:
        return value if _is_tensor(value) else float(value)

    def __str__(self) -> str:
        lo_in, hi_in = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"a number in {'[' if lo_in else '('}{self.low:g}, {self.high:g}{']' if hi_in else ')'}"
        if self.low is not None:
            return f"a finite number {'>=' if lo_in else '>'} {self.low:g}"
        if self.high is not None:
            return f"a finite number {'<=' if hi_in else '<'} {self.high:g}"
        return "a finite number"


def _torch_bool() -> Any:
    return sys.modules["torch"].bool


class Options(Constraint):
    """One of the given strings, compared case-insensitively; ``convert`` gives the lower case."""

    def __init__(self, *choices: str) -> None:
        self.choices = tuple(choices)

    def accepts_type(self, value: Any) -> bool:
        return isinstance(value, str)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value.lower() in self.choices

    def convert(self, value: str) -> str:
        return value.lower()

    def __str__(self) -> str:
        return "one of " + ", ".join(map(repr, self.choices))


class Bool(Constraint):
    """True or False (a NumPy bool too)."""

    def accepts_type(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def convert(self, value: Any) -> bool:
        return bool(value)

    def __str__(self) -> str:
        return "True or False"


class Instance(Constraint):
    """An instance of one of ``types``; ``what`` names them in the message."""

    def __init__(self, *types: type, what: str | None = None) -> None:
        self.types = types
        self.what = what or " or ".join(f"a {t.__module__}.{t.__qualname__}".replace("builtins.", "")
                                        for t in types)

    def accepts_type(self, value: Any) -> bool:
        return isinstance(value, self.types)

    def __str__(self) -> str:
        return self.what


class Subclass(Constraint):
    """A class derived from ``base`` (``base`` itself included); ``what`` names it in the message."""

    def __init__(self, base: type, *, what: str) -> None:
        self.base, self.what = base, what

    def accepts_type(self, value: Any) -> bool:
        return isinstance(value, type) and issubclass(value, self.base)

    def __str__(self) -> str:
        return self.what


class Callable_(Constraint):
    """Anything callable."""

    def accepts_type(self, value: Any) -> bool:
        return callable(value)

    def __str__(self) -> str:
        return "a callable"


class Seq(Constraint):
    """A list or tuple whose items each satisfy ``item``, of ``length`` items (or at least
    ``min_length``); ``convert`` gives a tuple of the converted items."""

    def __init__(self, item: Constraint, *, length: int | None = None, min_length: int = 0) -> None:
        self.item, self.length, self.min_length = item, length, min_length

    def accepts_type(self, value: Any) -> bool:
        return isinstance(value, (list, tuple))

    def accepts(self, value: Any) -> bool:
        return self._size_ok(value) and all(self.item.accepts(v) for v in value)

    def _size_ok(self, value: Any) -> bool:
        if not isinstance(value, (list, tuple)):
            return False
        return len(value) == self.length if self.length is not None else len(value) >= self.min_length

    def convert(self, value: Any) -> tuple:
        return tuple(self.item.convert(v) for v in value)

    def __str__(self) -> str:
        if self.length == 2:
            count = "a pair of"
        elif self.length is not None:
            count = f"a sequence of {self.length}"
        elif self.min_length:
            count = f"a sequence of at least {self.min_length}"
        else:
            count = "a sequence of"
        item = str(self.item)
        for article in ("an ", "a "):
            if item.startswith(article):
                item = item[len(article):]
                break
        # "an int >= 1" -> "ints >= 1", "a number in [0, 1)" -> "numbers in [0, 1)"
        head, _, rest = item.partition(" ")
        return f"{count} {head}s {rest}".rstrip() if head in ("int", "number") else f"{count} {item}"


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` on one line, shortened to ``limit`` characters: the value in a message."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(*alternatives: Constraint | None) -> str:
    """What the alternatives accept, in words: "an int >= 1 or None"."""
    return " or ".join("None" if c is None else str(c) for c in alternatives)


def check(name: str, value: Any, *alternatives: Constraint | None) -> Any:
    """``value`` in its plain form if one of ``alternatives`` (constraints, or ``None`` for None)
    accepts it; else ``TypeError`` (no alternative takes its type) or ``ValueError`` (one does, but
    not this value), naming ``name``, the value and what was expected.

    >>> import numpy as np
    >>> check("epochs", np.int64(3), Int(1))
    3
    >>> check("epochs", 0, Int(1))
    Traceback (most recent call last):
        ...
    sgdlab._validation.ArgumentValueError: Invalid epochs: 0 (expected an int >= 1)
    >>> check("epochs", "3", Int(1), None)
    Traceback (most recent call last):
        ...
    sgdlab._validation.ArgumentTypeError: Invalid epochs: '3' of type str (expected an int >= 1 or None)
    >>> check("betas", (0.9, 1.0), Seq(Real(0, 1, closed="left"), length=2))
    Traceback (most recent call last):
        ...
    sgdlab._validation.ArgumentValueError: Invalid betas[1]: 1.0 (expected a number in [0, 1))
    """
    if value is None:
        if None in alternatives:
            return None
    else:
        for c in alternatives:
            if c is not None and c.accepts(value):
                return c.convert(value)
    typed = [c for c in alternatives if c is not None and c.accepts_type(value)]
    for c in typed:  # a sequence of the right size: name the first item that is wrong
        if isinstance(c, Seq) and c._size_ok(value):
            for i, item in enumerate(value):
                check(f"{name}[{i}]", item, c.item)
    expected = describe(*alternatives)
    if typed:
        raise argument_error(name, value, expected)
    raise ArgumentTypeError(f"Invalid {name}: {shown(value)} of type {type(value).__name__} "
                            f"(expected {expected})")


Spec = Constraint | None | tuple


def _alternatives(spec: Spec) -> tuple[Constraint | None, ...]:
    return spec if isinstance(spec, tuple) else (spec,)


def validate(**constraints: Spec) -> Callable[[Callable], Callable]:
    """Decorate a function so that the named arguments, when the caller passes them, are checked
    (and converted) by :func:`check` before it runs. A value is one constraint, ``None``, or a tuple
    of alternatives. The signature and docstring are the function's (``help()`` shows them), and the
    constraints are kept in its ``__sgdlab_constraints__``.

    >>> import numpy as np
    >>> @validate(steps=Int(1), lr=(Real(0, closed="neither"), None))
    ... def run(steps=10, lr=None):
    ...     return steps, lr
    >>> run(np.int64(5), 0.5)
    (5, 0.5)
    >>> run(lr=-1)
    Traceback (most recent call last):
        ...
    sgdlab._validation.ArgumentValueError: Invalid lr: -1 (expected a finite number > 0 or None)
    """
    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)
        unknown = set(constraints) - set(signature.parameters)
        if unknown:
            raise TypeError(f"validate: {fn.__qualname__} has no parameter {', '.join(sorted(unknown))}")
        specs = {name: _alternatives(spec) for name, spec in constraints.items()}

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            for name, alternatives in specs.items():
                if name in bound.arguments:
                    bound.arguments[name] = check(name, bound.arguments[name], *alternatives)
            return fn(*bound.args, **bound.kwargs)

        checked.__sgdlab_constraints__ = specs  # type: ignore[attr-defined]
        return checked

    return decorate


