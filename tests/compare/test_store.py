"""The SQLite results store: round trip, no duplicates, atomic trials, errors retried."""

import sqlite3

import pytest

from sgdlab.compare.store import Store


def _record(key="k1", status="ok", epochs=2, **kw):
    history = [{"epoch": e, "updates": 10 * e, "train_loss": 1.0 / e, "val_loss": 1.5 / e,
                "val_metric": 0.5 + 0.1 * e, "time": 0.25 * e} for e in range(1, epochs + 1)]
    return {"key": key, "problem": "p", "problem_key": "f" * 20, "optimizer": "adam", "lr": 0.01,
            "hparams": {"lr": 0.01, "betas": [0.9, 0.999]}, "seed": 0, "epochs": epochs, "batch_size": 32,
            "convention": "paper", "tuning": "external", "phase": "tune", "study": 0, "trial": 1,
            "status": status, "error": None, "final_val_metric": 0.7, "final_test_metric": 0.68,
            "final_test_loss": 0.9, "budget_steps": 20 * epochs, "train_seconds": 0.5, "wall_time": 1.5,
            "config": {"optimizer": {"lr": 0.01, "betas": [0.9, 0.999]}}, "history": history,
            "sgdlab_version": "0.3.0", "torch_version": "2.13.0", "created": "2026-12-02T07:00:00+00:00", **kw}


def test_a_trial_round_trips_with_its_epochs_and_config(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        assert store.add(_record())
    with Store(tmp_path / "s.sqlite") as store:  # reopened: it is on disk
        (got,) = store.trials()
    expected = _record()
    assert got == expected


def test_the_same_trial_is_stored_once(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        assert store.add(_record())
        assert not store.add(_record(final_test_metric=0.1))
        assert len(store) == 1 and store.trials()[0]["final_test_metric"] == 0.68
        assert sqlite3.connect(tmp_path / "s.sqlite").execute("select count(*) from epochs").fetchone() == (2,)


def test_a_failed_trial_is_reported_but_run_again(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.add(_record("bad", status="error", error="Traceback ...", epochs=0))
        assert "bad" not in store.keys() and len(store) == 1
        assert store.add(_record("bad"))
        (got,) = store.trials()
        assert got["status"] == "ok" and len(got["history"]) == 2


def test_a_trial_that_fails_to_write_leaves_nothing(tmp_path, monkeypatch):
    with Store(tmp_path / "s.sqlite") as store:
        broken = _record()
        broken["history"][1] = {"epoch": 2}  # no 'updates': the epochs insert fails after the trial row
        with pytest.raises(KeyError):
            store.add(broken)
        assert len(store) == 0 and store.trials() == []
        assert store.add(_record())


def test_non_finite_metrics_are_stored_as_null(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.add(_record(final_val_metric=float("nan"), final_test_loss=float("inf")))
        got = store.trials()[0]
    assert got["final_val_metric"] is None and got["final_test_loss"] is None


def test_trials_filter_by_problem_optimizer_and_keys(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.add(_record("a"))
        store.add(_record("b", optimizer="sgd"))
        store.add(_record("c", problem="q"))
        assert [r["key"] for r in store.trials(optimizer="sgd")] == ["b"]
        assert [r["key"] for r in store.trials(problem="q")] == ["c"]
        assert [r["key"] for r in store.trials(keys=["a", "c", "zz"])] == ["a", "c"]


def test_a_file_that_is_not_a_store_is_refused_naming_it(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("hello, this is not SQLite\n" * 100)
    with pytest.raises(ValueError, match="Invalid path: '.*notes.sqlite' .expected an sgdlab results store"):
        Store(path)


def test_a_store_of_another_schema_version_is_refused(tmp_path):
    with Store(tmp_path / "s.sqlite"):
        pass
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.execute("update meta set value = '99' where name = 'schema_version'")
    db.commit()
    with pytest.raises(ValueError, match="a store of schema version 2, which this sgdlab reads, not 99"):
        Store(tmp_path / "s.sqlite")


def test_a_store_of_schema_1_is_refused_saying_why_and_what_to_do(tmp_path):
    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.executescript("create table meta (name text primary key, value text not null);"
                     "insert into meta values ('schema_version', '1');")
    db.commit()
    with pytest.raises(ValueError, match="not 1: it was written by an earlier sgdlab, which keyed trials by the "
                                         "problem's name.*start a new store"):
        Store(tmp_path / "old.sqlite")


def test_the_learning_rate_column_comes_from_the_hyper_parameters(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        record = _record()
        del record["lr"]
        store.add(record)
        assert store.trials()[0]["lr"] == 0.01
        assert sqlite3.connect(tmp_path / "s.sqlite").execute("select lr from trials").fetchone() == (0.01,)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match="expected a file, not a directory"):
        Store(tmp_path)


def test_a_record_missing_fields_is_refused_naming_them(tmp_path):
    record = _record()
    del record["seed"]
    with Store(tmp_path / "s.sqlite") as store, pytest.raises(ValueError, match="it lacks seed"):
        store.add(record)


def test_an_interrupt_after_the_commit_is_not_hidden_by_a_failed_rollback(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        real = store._db  # a connection whose COMMIT succeeds, then Ctrl-C arrives

        class Connection:
            def __getattr__(self, name):
                return getattr(real, name)

            def cursor(self):
                cur = real.cursor()

                class Cursor:
                    def __getattr__(self, name):
                        return getattr(cur, name)

                    def execute(self, sql, *args):
                        out = cur.execute(sql, *args)
                        if sql == "COMMIT":
                            raise KeyboardInterrupt
                        return out
                return Cursor()

        store._db = Connection()
        with pytest.raises(KeyboardInterrupt):
            store.add(_record())
        store._db = real
        assert len(store) == 1  # the trial was committed, and stays
