"""The examples in the public docstrings run and print what they show."""

import doctest
import importlib

import pytest

MODULES = ["sgdlab.optim", "sgdlab.optim.momentum", "sgdlab.optim.adaptive", "sgdlab.optim.adam",
           "sgdlab.optim.noise", "sgdlab.lab", "sgdlab.lab.functions", "sgdlab.lab.minimize",
           "sgdlab.lab.figures"]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
