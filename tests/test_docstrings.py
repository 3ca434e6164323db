"""The examples in the public docstrings run and print what they show."""

import doctest
import importlib

import pytest

MODULES = ["sgdlab._validation", "sgdlab.optim", "sgdlab.optim.momentum", "sgdlab.optim.adaptive", "sgdlab.optim.adam",
           "sgdlab.optim.noise", "sgdlab.lab", "sgdlab.lab.functions", "sgdlab.lab.minimize",
           "sgdlab.lab.figures", "sgdlab.gradient_check", "sgdlab.models", "sgdlab.models.linear",
           "sgdlab.models.mlp", "sgdlab.models.cnn", "sgdlab.models.charlm", "sgdlab.train",
           "sgdlab.train.loop", "sgdlab.train.schedules", "sgdlab.train.history",
           "sgdlab.train.callbacks", "sgdlab.train.curriculum", "sgdlab.data", "sgdlab.data.libsvm",
           "sgdlab.data.synthetic", "sgdlab.parallel", "sgdlab.parallel.hogwild",
           "sgdlab.parallel.command", "sgdlab.parallel.benchmark", "sgdlab.parallel.mf", "sgdlab.compare", "sgdlab.compare.analysis", "sgdlab.compare.report",
           "sgdlab.problems",
           "sgdlab.problems.base",
           "sgdlab.problems.fingerprint",
           "sgdlab.compare.search",
           "sgdlab.compare.scoring",
           "sgdlab.compare.uncertainty",
           "sgdlab.compare.baseline",
           "sgdlab.optim.lion",
           "sgdlab.optim.schedulefree",
           "sgdlab.optim.lookahead",
           "sgdlab.optim.muon",
           "sgdlab.optim.adafactor",
           "sgdlab.optim.soap",
           ]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
