"""The benchmark problems of ``sgdlab compare``, after DeepOBS and AlgoPerf.

``PROBLEMS`` maps each name to its :class:`~.base.Problem`, in display order; ``get("libsvm:PATH")``
also builds a logistic-regression problem on any LIBSVM file, and :func:`resolve` takes your own
problems too (``FILE.py[:ATTR]``, ``MODULE:ATTR``: see :mod:`.user` and
:meth:`Problem.from_model <.base.Problem.from_model>`).

================  ========  ======  ===========  ===========  ============
problem           metric    target  quick        full         quick trial
================  ========  ======  ===========  ===========  ============
quadratic_deep    loss      87.0    20 ep x 128  100 ep x 128  0.09 s
two_d_beale       loss      16.0    10 ep x 128  100 ep x 128  0.37 s
sparse_logreg     accuracy  0.86    10 ep x 64   50 ep x 64    0.64 s
digits_logreg     accuracy  0.96    10 ep x 64   50 ep x 64    0.08 s
digits_mlp        accuracy  0.975   10 ep x 64   50 ep x 64    0.10 s
digits_mlp_bn     accuracy  0.975   10 ep x 64   50 ep x 64    0.12 s
digits_cnn        accuracy  0.975   10 ep x 64   50 ep x 64    0.38 s
digits_cnn_bn     accuracy  0.985   10 ep x 64   50 ep x 64    0.44 s
char_lm           accuracy  0.46    5 ep x 32    50 ep x 32    0.92 s
================  ========  ======  ===========  ===========  ============

Quick trial: build, train the quick budget and evaluate validation and test, Adam at lr 1e-2, one
thread, median of 3 (measured 2026-11-30 on the project's 2-core machine): 0.35 s on average over
the nine problems. The first build in a process also loads scikit-learn for the digits (~0.6 s).
Each target is the best level that SGD, Momentum, Adam and Adagrad, each tuned over the quick grid,
hold from the middle of the quick budget on (:mod:`.calibrate`; each module lists the runs).

>>> from sgdlab import problems
>>> problems.available()[:3]
['quadratic_deep', 'two_d_beale', 'sparse_logreg']
>>> p = problems.get("digits_mlp")
>>> p.metric, p.higher_is_better, p.quick
('accuracy', True, Budget(epochs=10, batch_size=64))
>>> task = p.build(seed=0)
>>> [len(part[1]) for part in (task.train, task.val, task.test)]
[1197, 300, 300]
"""

from __future__ import annotations

from .._validation import Instance, argument_error, check
from .base import Budget, Problem, Task
from .char_lm import CHAR_LM
from .deepobs import QUADRATIC_DEEP, TWO_D_BEALE
from .digits import DIGITS_CNN, DIGITS_CNN_BN, DIGITS_LOGREG, DIGITS_MLP, DIGITS_MLP_BN
from .sparse import SPARSE_LOGREG, libsvm_problem
from .user import is_user_spec, load

__all__ = ["PROBLEMS", "Budget", "LIBSVM_PREFIX", "Problem", "Task", "available", "get", "is_builtin",
           "libsvm_problem", "resolve"]

#: The prefix of a problem on a LIBSVM file: ``get("libsvm:data/a9a.svm")``.
LIBSVM_PREFIX = "libsvm:"

PROBLEMS: dict[str, Problem] = {p.name: p for p in (
    QUADRATIC_DEEP, TWO_D_BEALE, SPARSE_LOGREG, DIGITS_LOGREG, DIGITS_MLP, DIGITS_MLP_BN, DIGITS_CNN,
    DIGITS_CNN_BN, CHAR_LM,
)}


def available() -> list[str]:
    """The registered problem names, in display order (``libsvm:PATH`` works too, see :func:`get`)."""
    return list(PROBLEMS)


def get(name: str) -> Problem:
    """The problem called ``name``: a registered one, or ``"libsvm:PATH"`` for logistic regression
    on the LIBSVM file PATH (see :func:`~.sparse.libsvm_problem`).

    >>> from sgdlab import problems
    >>> problems.get("quadratic_deep").full
    Budget(epochs=100, batch_size=128)
    >>> problems.get("mnist")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    sgdlab._validation.ArgumentValueError: Invalid problem: 'mnist' (expected one of quadratic_deep, two_d_beale, ..., char_lm, or libsvm:PATH)
    """
    check("problem", name, Instance(str, what="a problem name"))
    if name.startswith(LIBSVM_PREFIX):
        path = name[len(LIBSVM_PREFIX):]
        if not path:
            raise argument_error("problem", name, "libsvm:PATH with the path of a LIBSVM file")
        return libsvm_problem(path)
    if name not in PROBLEMS:
        raise argument_error("problem", name, f"one of {', '.join(PROBLEMS)}, or {LIBSVM_PREFIX}PATH")
    return PROBLEMS[name]


def resolve(spec: str) -> list[Problem]:
    """The problems ``spec`` names: a registered name, ``libsvm:PATH``, ``FILE.py[:ATTR]`` or
    ``MODULE:ATTR`` (your own problems, see :mod:`.user`). A file or module may hold several.

    >>> from sgdlab import problems
    >>> [p.name for p in problems.resolve("digits_mlp")]
    ['digits_mlp']
    >>> problems.resolve("no_such.py:make")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    sgdlab._validation.ArgumentValueError: Invalid problem: 'no_such.py:make' (expected a Python file: there is no file no_such.py)
    """
    check("problem", spec, Instance(str, what="a problem name, libsvm:PATH, FILE.py[:ATTR] or MODULE:ATTR"))
    if spec in PROBLEMS or spec.startswith(LIBSVM_PREFIX):
        return [get(spec)]
    if is_user_spec(spec):
        return load(spec)
    raise argument_error("problem", spec, f"one of {', '.join(PROBLEMS)}, {LIBSVM_PREFIX}PATH, FILE.py[:ATTR] or "
                         "MODULE:ATTR")


def is_builtin(problem: Problem) -> bool:
    """Whether ``problem`` is one of the registered problems (not your own, nor a LIBSVM file)."""
    check("problem", problem, Instance(Problem, what="a sgdlab.problems.Problem"))
    return PROBLEMS.get(problem.name) == problem
