"""The examples in sgdlab.distributed's docstrings run and print what they show (those that need a
Ray cluster are marked to be skipped; the Ray tests cover them)."""

import doctest
import importlib

import pytest

MODULES = ["sgdlab.distributed", "sgdlab.distributed.server", "sgdlab.distributed.worker",
           "sgdlab.distributed.simulate", "sgdlab.distributed.algorithms"]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
