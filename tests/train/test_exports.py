"""sgdlab.train exports its public API (its docstring examples run in tests/test_docstrings.py)."""


def test_exports():
    import sgdlab.train as train

    for name in ("fit", "History", "EarlyStopping", "Curriculum", "schedules", "InverseTimeDecay",
                 "SearchThenConverge"):
        assert hasattr(train, name), name
    assert train.schedules.InverseTimeDecay is train.InverseTimeDecay
