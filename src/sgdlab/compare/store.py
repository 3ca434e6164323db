"""The results store of ``sgdlab compare``: every trial in one SQLite file.

One row per trial in ``trials`` (the problem's fingerprint, the optimizer and all its
hyper-parameters, seed, budget, status, final metrics, timing, the traceback of a trial that raised,
the sgdlab and torch versions) and one row per epoch in ``epochs`` (cumulative updates, losses,
validation metric, cumulative training seconds). A trial is written in one transaction once it has
finished, so a run killed at any point (Ctrl-C, ``kill -9``, a power cut) leaves only whole trials
behind; the trial's key (:attr:`sgdlab.compare.protocol.TrialSpec.key`, a hash of the problem's data
and definition, the optimizer, its hyper-parameters, the seed and the budget) is the primary key, so
rerunning the same command skips what is stored and never stores a trial twice, and an edited problem
(other data, another model) never reuses the old trials. Runs of different configurations (other
problems, optimizers, rulesets, seeds) share a store: each takes the trials it needs. The columns
``problem``, ``tuning``, ``phase``, ``study`` and ``trial`` say what the run that first asked for a
trial called it; a later run that asks for the same trial under another name uses it under its own.

The file is plain SQLite: ``sqlite3 sgdlab-results.sqlite "select optimizer, lr, final_test_metric
from trials where problem = 'digits_mlp'"``.

Schema 2 keys trials by the problem's fingerprint; a store of schema 1 (the sgdlab before, keyed by
the problem's name) is refused with a message saying so: its trials cannot be told apart from those
of a problem edited since, so they are not reused.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._validation import ArgumentValueError, Instance, argument_error, check

#: Bumped when the schema changes; a store of another version is refused rather than misread.
SCHEMA_VERSION = 2

_TRIAL_COLUMNS = (
    "key", "problem", "problem_key", "optimizer", "lr", "hparams", "seed", "epochs", "batch_size", "convention",
    "tuning", "phase", "study", "trial", "status", "error", "final_val_metric", "final_test_metric",
    "final_test_loss", "budget_steps", "train_seconds", "wall_time", "config", "sgdlab_version", "torch_version",
    "created",
)
_JSON_COLUMNS = ("hparams", "config")
_OPTIONAL = ("error", "config", "lr", "study", "trial", "train_seconds")
_EPOCH_COLUMNS = ("epoch", "updates", "train_loss", "val_loss", "val_metric", "time")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    key TEXT PRIMARY KEY,
    problem TEXT NOT NULL,           -- the name the first run gave the problem
    problem_key TEXT NOT NULL,       -- the problem's fingerprint (its data and definition)
    optimizer TEXT NOT NULL,
    lr REAL,                         -- the learning rate (also in hparams), for queries
    hparams TEXT NOT NULL,           -- JSON: every hyper-parameter of the optimizer
    seed INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    batch_size INTEGER,              -- NULL: batch gradient descent
    convention TEXT NOT NULL,
    tuning TEXT NOT NULL,            -- 'external', 'defaults', 'lr-grid' or 'calibrate'
    phase TEXT NOT NULL,             -- 'tune', 'rerun', 'run' or 'calibrate'
    study INTEGER,
    trial INTEGER,
    status TEXT NOT NULL,            -- 'ok', 'diverged' or 'error'
    error TEXT,                      -- the traceback of a trial that raised
    final_val_metric REAL,
    final_test_metric REAL,
    final_test_loss REAL,
    budget_steps INTEGER NOT NULL,   -- optimizer steps of the whole budget
    train_seconds REAL,              -- seconds of training, evaluation not counted
    wall_time REAL NOT NULL,         -- seconds: build, train, evaluate
    config TEXT NOT NULL,            -- JSON: the optimizer's settings, the problem's metric and target
    sgdlab_version TEXT NOT NULL,
    torch_version TEXT NOT NULL,
    created TEXT NOT NULL            -- ISO 8601, UTC
);
CREATE INDEX IF NOT EXISTS trials_problem_optimizer ON trials (problem_key, optimizer);
CREATE TABLE IF NOT EXISTS epochs (
    key TEXT NOT NULL REFERENCES trials (key) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    updates INTEGER NOT NULL,        -- cumulative optimizer steps at the end of the epoch
    train_loss REAL,
    val_loss REAL,
    val_metric REAL,
    time REAL NOT NULL,              -- cumulative training seconds at the end of the epoch (no evaluation)
    PRIMARY KEY (key, epoch)
);
"""


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class Store:
    """A results store at ``path`` (created with its directory when missing).

    Use it as a context manager, or call :meth:`close`::

        with Store("sgdlab-results.sqlite") as store:
            done = store.keys()
            store.add(record)
            records = store.trials(problem="digits_mlp")
    """

    def __init__(self, path: str | Path, *, name: str = "path") -> None:
        # ``name``: what the caller calls the path, for messages (``sgdlab compare --store``: "store")
        self.path = Path(check(name, path, Instance(str, os.PathLike, what="a path")))
        if self.path.exists() and self.path.is_dir():
            raise argument_error(name, str(self.path), "a file, not a directory")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            row = self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as err:
            raise argument_error(name, str(self.path), f"an sgdlab results store: {err}") from None
        if row is None:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif row[0] == "1":
            self._db.close()
            raise argument_error(name, str(self.path), f"a store of schema version {SCHEMA_VERSION}, not 1: it was "
                                 "written by an earlier sgdlab, which keyed trials by the problem's name, so they "
                                 "cannot be told apart from those of a problem edited since; keep it for its report "
                                 "and start a new store (--store NEW.sqlite)")
        elif row[0] != str(SCHEMA_VERSION):
            self._db.close()
            raise argument_error(name, str(self.path), f"a store of schema version {SCHEMA_VERSION}, which "
                                 f"this sgdlab reads, not {row[0]}")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]

    def keys(self) -> set[str]:
        """The keys of the finished trials (``ok`` or ``diverged``): the ones a run need not redo.
        A trial that failed with an error is kept for the report but run again by the next run."""
        return {k for (k,) in self._db.execute("SELECT key FROM trials WHERE status != 'error'")}

    def add(self, record: Mapping[str, Any]) -> bool:
        """Store one finished trial (a record as :func:`sgdlab.compare.runner.run_trial` returns it)
        with its epochs, atomically. Returns ``False`` (and changes nothing) when a finished trial
        with its key is already stored; a stored trial that failed with an error is replaced."""
        missing = [c for c in _TRIAL_COLUMNS if c not in record and c not in _OPTIONAL]
        if missing or "history" not in record:
            raise ArgumentValueError(f"Invalid record: it lacks {', '.join(missing or ['history'])} (expected "
                                     "a record as run_trial returns it)")
        row = dict(record)
        for name in _OPTIONAL:
            row.setdefault(name, None)
        if row["lr"] is None:
            row["lr"] = (row.get("hparams") or {}).get("lr")
        for name in _JSON_COLUMNS:
            row[name] = json.dumps(row.get(name) or {}, sort_keys=True, default=list)
        for name in ("final_val_metric", "final_test_metric", "final_test_loss"):
            row[name] = _finite_or_none(row[name])
        cur = self._db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute("DELETE FROM trials WHERE key = ? AND status = 'error'", (row["key"],))
            cur.execute(f"INSERT OR IGNORE INTO trials ({', '.join(_TRIAL_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(_TRIAL_COLUMNS))})",
                        [row[c] for c in _TRIAL_COLUMNS])
            inserted = cur.rowcount == 1
            if inserted:
                cur.executemany(
                    f"INSERT INTO epochs (key, {', '.join(_EPOCH_COLUMNS)}) "
                    f"VALUES (?, {', '.join('?' * len(_EPOCH_COLUMNS))})",
                    [[row["key"]] + [_finite_or_none(e.get(c)) if c not in ("epoch", "updates")
                                     else int(e[c]) for c in _EPOCH_COLUMNS]
                     for e in row["history"]])
            cur.execute("COMMIT")
        except BaseException:
            # Ctrl-C can land after COMMIT (or before BEGIN took): then there is nothing to undo, and a
            # ROLLBACK would raise and hide the interrupt
            if self._db.in_transaction:
                cur.execute("ROLLBACK")
            raise
        return inserted

    def trials(self, *, problem: str | None = None, optimizer: str | None = None,
               keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The stored trials (optionally of one problem / optimizer / set of keys) as records, each
        with its ``history`` (a list of epoch dicts) and ``config`` (a dict), in insertion order."""
        where, args = [], []
        if problem is not None:
            where.append("problem = ?")
            args.append(problem)
        if optimizer is not None:
            where.append("optimizer = ?")
            args.append(optimizer)
        if keys is not None:
            # a temporary table: a key list can be longer than SQLite's limit on query parameters
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (key TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM wanted")
            self._db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(k,) for k in keys])
            where.append("key IN (SELECT key FROM wanted)")
        condition = " WHERE " + " AND ".join(where) if where else ""
        out = []
        for values in self._db.execute(
                f"SELECT {', '.join(_TRIAL_COLUMNS)} FROM trials{condition} ORDER BY rowid", args):
            record = dict(zip(_TRIAL_COLUMNS, values))
            for name in _JSON_COLUMNS:
                record[name] = json.loads(record[name])
            out.append(record)
        # only the epochs of the selected trials are read
        histories: dict[str, list[dict[str, Any]]] = {r["key"]: [] for r in out}
        for values in self._db.execute(
                f"SELECT key, {', '.join(_EPOCH_COLUMNS)} FROM epochs "
                f"WHERE key IN (SELECT key FROM trials{condition}) ORDER BY key, epoch", args):
            if values[0] in histories:  # not a trial another run stored between the two reads
                histories[values[0]].append(dict(zip(_EPOCH_COLUMNS, values[1:])))
        for record in out:
            record["history"] = histories[record["key"]]
        return out
