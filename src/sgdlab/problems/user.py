"""Problems from your own code: ``sgdlab compare --problem FILE.py[:ATTR]`` or ``--problem MODULE:ATTR``.

``ATTR`` (default ``make_problem``) names, in the file or module, a :class:`~.base.Problem`, a list of
them, or a function of no arguments returning one or a list, typically made with
:meth:`Problem.from_model <sgdlab.problems.base.Problem.from_model>`::

    # my_problems.py
    import torch
    from sgdlab.compare import Problem

    def make_problem():
        X, y = torch.load("features.pt")
        return Problem.from_model(lambda: torch.nn.Linear(X.shape[1], 2), torch.nn.functional.cross_entropy,
                                  (X[:800], y[:800]), (X[800:], y[800:]), metric=accuracy, epochs=10)

A file is run as a script would be (its folder first on ``sys.path``, so it can import its neighbours)
under a private module name; each worker process of ``sgdlab compare`` loads it again (its
:attr:`~.base.Problem.source` says how), so the functions in it need not be picklable. The file's
contents are part of each problem's :attr:`~.base.Problem.fingerprint`: an edited file never reuses
the old trials.

Whatever goes wrong is an :class:`~sgdlab._validation.ArgumentValueError` of one line that names the
spec, the file and what was wrong: no such file or module, no such attribute (with the ones there
are), an attribute that is not or does not return problems, or an exception while importing, calling
or building (with its type, message and the line of your file it came from).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from typing import Any

from .._validation import ArgumentValueError, argument_error
from .base import Problem
from .fingerprint import file_digest

#: The attribute ``FILE.py`` without ``:ATTR`` means.
DEFAULT_ATTR = "make_problem"


def is_user_spec(spec: str) -> bool:
    """Whether ``spec`` names a Python file (``*.py``, with or without ``:ATTR``) or ``MODULE:ATTR``."""
    if spec.startswith("libsvm:"):
        return False
    left = spec.rsplit(":", 1)[0]
    return left.endswith(".py") or ":" in spec or os.sep in spec


def load(spec: str) -> list[Problem]:
    """The problems ``spec`` names (``FILE.py[:ATTR]`` or ``MODULE:ATTR``), each with its ``source``
    set to ``spec`` and its ``digest`` to the hash of the file, built once with seed 0 (their
    fingerprint) so that a problem that cannot be built is refused now, not in every trial."""
    where, attr = _split(spec)
    if where.endswith(".py") or os.path.exists(where):
        module, path = _run_file(spec, where)
    else:
        module, path = _import(spec, where)
    label = os.path.basename(path) if path else where
    if not hasattr(module, attr):
        public = sorted(n for n, v in vars(module).items() if not n.startswith("_") and
                        (isinstance(v, Problem) or (callable(v) and getattr(v, "__module__", None) == module.__name__)))
        there = f"; it has {', '.join(public)}" if public else ""
        raise argument_error("problem", spec, f"an attribute {attr} in {label}{there}")
    value = getattr(module, attr)
    if callable(value) and not isinstance(value, Problem):
        try:
            value = value()
        except Exception as err:  # noqa: BLE001 - the user's code: any exception is reported
            raise _failed(spec, f"{label}:{attr}() to return problems", err, path) from None
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    wrong = [type(v).__name__ for v in items if not isinstance(v, Problem)]
    if wrong or not items:
        got = "an empty list" if not items else f"a {wrong[0]}"
        raise argument_error("problem", spec, f"{label}:{attr} to be or return a sgdlab.compare.Problem or a list "
                             f"of them, not {got}")
    names = [p.name for p in items]
    if len(set(names)) != len(names):
        raise argument_error("problem", spec, f"problems with different names from {label}:{attr}, not {names}")
    digest = file_digest(path) if path else ""
    problems = [dataclasses.replace(p, source=spec, digest=hashlib.sha256((p.digest + digest).encode()).hexdigest())
                for p in items]
    for p in problems:
        try:
            p.fingerprint  # noqa: B018 - builds it with seed 0
        except Exception as err:  # noqa: BLE001
            raise _failed(spec, f"the problem {p.name!r} of {label} to build", err, path) from None
    return problems


def _split(spec: str) -> tuple[str, str]:
    where, sep, attr = spec.rpartition(":")
    if not sep or (len(where) == 1 and where.isalpha()):  # no ATTR (or only a Windows drive letter)
        return spec, DEFAULT_ATTR
    if not attr:
        raise argument_error("problem", spec, "FILE.py:ATTR or MODULE:ATTR with an attribute name after the colon")
    return where, attr


def _run_file(spec: str, where: str) -> tuple[Any, str]:
    path = os.path.abspath(where)
    if not os.path.isfile(path):
        raise argument_error("problem", spec, f"a Python file: there is no file {where}"
                             + (" (it is a folder)" if os.path.isdir(path) else ""))
    name = f"_sgdlab_user_{os.path.splitext(os.path.basename(path))[0]}_{hashlib.sha1(path.encode()).hexdigest()[:8]}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise argument_error("problem", spec, f"a Python file that Python can import: {where} is not one")
    module = importlib.util.module_from_spec(module_spec)
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # as for a script: the file may import its neighbours
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - any exception of the user's file is reported
        del sys.modules[name]
        raise _failed(spec, f"{os.path.basename(path)} to import", err, path) from None
    return module, path


def _import(spec: str, where: str) -> tuple[Any, str]:
    try:
        module = importlib.import_module(where)
    except ModuleNotFoundError as err:
        if err.name is not None and where.startswith(err.name):
            raise argument_error("problem", spec, f"a Python file (FILE.py[:ATTR]) or an importable module "
                                 f"(MODULE:ATTR): there is no module {where}") from None
        raise _failed(spec, f"the module {where} to import", err, None) from None
    except Exception as err:  # noqa: BLE001
        raise _failed(spec, f"the module {where} to import", err, getattr(sys.modules.get(where), "__file__", None)) \
            from None
    return module, getattr(module, "__file__", None) or ""


def _failed(spec: str, what: str, err: BaseException, path: str | None) -> ArgumentValueError:
    """``Invalid problem: SPEC (expected WHAT: it raised TYPE: MESSAGE at FILE line N)``: one line."""
    frames = traceback.extract_tb(err.__traceback__)
    mine = [f for f in frames if path and os.path.abspath(f.filename) == path]
    frame = (mine or frames or [None])[-1]
    at = f" at {os.path.basename(frame.filename)} line {frame.lineno}" if frame is not None else ""
    message = " ".join(str(err).split()) or "(no message)"
    return argument_error("problem", spec, f"{what}: it raised {type(err).__name__}: {message}{at}")
