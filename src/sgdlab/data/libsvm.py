"""Read LIBSVM / svmlight files, with errors that name the malformed line.

The format is one example per line::

    <label> [qid:<int>] <index>:<value> <index>:<value> ...   [# comment]

Parsing is scikit-learn's :func:`sklearn.datasets.load_svmlight_file` (compiled, fast). When it
fails, or when it accepts a non-finite number, a second pass finds the first malformed line and the
error names it::

    ArgumentValueError: data/train.svm, line 12: feature value 'abc' is not a number: '1 3:abc'

(an :class:`~sgdlab._validation.ArgumentValueError`, a ``ValueError``: the command line shows it as one
line). The second pass runs only on failure, so a well-formed file is read at the compiled parser's speed.
It hands the file to the same parser again in blocks of ``CHUNK_LINES`` lines and checks line by
line, in Python (~1 microsecond per ``index:value`` pair), only the first block that fails: finding
the bad line costs about as much as loading the file.

>>> import tempfile, os
>>> from sgdlab.data import load_libsvm
>>> path = os.path.join(tempfile.mkdtemp(), "tiny.svm")
>>> with open(path, "w") as f:
...     _ = f.write("# two examples\\n+1 1:0.5 3:2\\n-1 2:1.5  # a comment\\n")
>>> X, y = load_libsvm(path)
>>> X.toarray(), y
(array([[0.5, 0. , 2. ],
       [0. , 1.5, 0. ]]), array([ 1., -1.]))
>>> with open(path, "w") as f:
...     _ = f.write("+1 1:0.5 3:2\\n-1 3:1 2:1.5\\n")
>>> load_libsvm(path)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
sgdlab._validation.ArgumentValueError: ...tiny.svm, line 2: feature indices are not increasing
(3 then 2): '-1 3:1 2:1.5'
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import math
import os
import re

import numpy as np
import scipy.sparse

from .._validation import ArgumentValueError, Bool, Instance, Int, Options, validate

__all__ = ["load_libsvm"]

# sklearn's parser converts feature indices to a C int
MAX_INDEX = 2**31 - 1
# lines per block of the second pass
CHUNK_LINES = 20_000
# longer lines are shown as a window around the offending token
SHOW_CHARS = 160

_TOKEN = re.compile(rb"\S+")


@validate(path=Instance(str, bytes, os.PathLike, what="a path"), n_features=(Int(1), None),
          zero_based=(Bool(), Options("auto")))
def load_libsvm(path: str | os.PathLike, n_features: int | None = None,
                zero_based: bool | str = "auto") -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """Load a LIBSVM / svmlight file as ``(X, y)``: X a float64 CSR matrix, y float64 labels.

    Args:
        path: the file; a name ending in ``.gz`` or ``.bz2`` is decompressed on the fly.
        n_features: the number of columns of X (default: the largest index in the file, + 1
            if zero-based). Pass it to give a test file the training file's width.
        zero_based: whether the file's feature indices start at 0 (True) or 1 (False, LIBSVM's
            own convention); "auto" (default, as scikit-learn): zero-based if any index is 0.

    The grammar accepted: a line holds a label (any number ``float()`` reads, e.g. ``+1``,
    ``-1``, ``3.5``), then ``index:value`` pairs with integer indices in strictly increasing order
    and float values. ``#`` starts a comment, to the end of the line; blank and comment-only lines
    are skipped; a line with a label and no pairs is an all-zero row. A ``qid:<int>`` token right
    after the label (ranking data) is checked and ignored. Labels and values must be finite (``nan``
    and ``inf`` are refused: they would silently poison any training run). Multi-label lines
    (``1,2 ...``) are not supported.

    Raises:
        FileNotFoundError: ``path`` does not exist (the error names it).
        TypeError: an argument of the wrong type.
        ValueError (an ArgumentValueError): a malformed line, as ``"{path}, line {n}: {reason}:
            {line!r}"`` with n counted from 1 over every line of the file (comments and blank lines
            included); an index beyond ``n_features``; a file with no examples (empty, or only
            comments and blank lines); an invalid ``n_features`` or ``zero_based``.
    """
    from sklearn.datasets import load_svmlight_file  # imported here: sklearn takes ~1 s to import

    fspath = os.fspath(path)
    if isinstance(fspath, bytes):
        fspath = os.fsdecode(fspath)
    if not os.path.exists(fspath):
        raise FileNotFoundError(errno.ENOENT, "LIBSVM file not found", fspath)
    if os.path.isdir(fspath):
        raise IsADirectoryError(errno.EISDIR, f"expected a LIBSVM file, got the directory {fspath!r}",
                                fspath)

    kwargs = dict(n_features=n_features, dtype=np.float64,
                  zero_based=zero_based, query_id=True)  # query_id=True: sklearn then checks qid:<int>
    failure = None
    try:
        X, y, _qid = load_svmlight_file(fspath, **kwargs)
    except (ValueError, OverflowError, UnicodeDecodeError) as err:
        failure = err
    if failure is not None:  # outside the except clause: the line-naming error has no "context"
        _raise_first_malformed(fspath, n_features, zero_based)
        # the line-by-line grammar found nothing: scikit-learn's words, with the file's name
        raise ArgumentValueError(f"{fspath}: {failure}") from failure
    if X.shape[0] == 0:
        raise ArgumentValueError(f"{fspath}: no examples (the file is empty or holds only comments and blank "
                                 "lines)")
    if not (np.isfinite(X.data).all() and np.isfinite(y).all()):
        _raise_first_malformed(fspath, n_features, zero_based)
        raise ArgumentValueError(f"{fspath}: a label or value is not finite")
    X = scipy.sparse.csr_matrix(X)  # sklearn returns csr_matrix today; keep the promise if it changes
    return X, np.asarray(y, dtype=np.float64)


def _open(path: str):
    ext = os.path.splitext(path)[1]
    if ext == ".gz":
        return gzip.open(path, "rb")
    if ext == ".bz2":
        return bz2.BZ2File(path, "rb")
    return open(path, "rb")


class _Malformed(Exception):
    def __init__(self, reason: str, start: int = 0, end: int = 0) -> None:
        super().__init__(reason)
        self.reason, self.start, self.end = reason, start, end


def _number(text: bytes, what: str, start: int, end: int) -> float:
    shown = text.decode("utf-8", "replace")
    try:
        value = float(text)
    except ValueError:
        hint = " (multi-label lines are not supported)" if what == "label" and b"," in text else ""
        raise _Malformed(f"{what} {shown!r} is not a number{hint}", start, end) from None
    if not math.isfinite(value):
        raise _Malformed(f"{what} {shown!r} is not finite", start, end)
    return value


def _integer(text: bytes, what: str, start: int, end: int) -> int:
    try:
        return int(text)
    except ValueError:
        shown = text.decode("utf-8", "replace")
        raise _Malformed(f"{what} {shown!r} is not an integer", start, end) from None


def _check_line(body: bytes, zero_based: bool | str) -> tuple[int, int, int] | None:
    """Check one line (comment removed); return (min index, max index, where the max index's token
    starts), or None for a row with no features. Raise _Malformed naming the first problem."""
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(body)]
    label, s, e = tokens[0]
    if b":" in label and label.split(b":", 1)[0] != b"":
        raise _Malformed(f"the line starts with {label.decode('utf-8', 'replace')!r}, not a label "
                         "(expected '<label> <index>:<value> ...')", s, e)
    _number(label, "label", s, e)
    rest = tokens[1:]
    if rest and rest[0][0].startswith(b"qid:"):
        tok, s, e = rest[0]
        _integer(tok[4:], "qid", s, e)
        rest = rest[1:]
    previous = first = start = None
    for tok, s, e in rest:
        if tok.startswith(b"qid:"):
            raise _Malformed(f"{tok.decode('utf-8', 'replace')!r} after the features "
                             "(qid must come right after the label)", s, e)
        if tok.count(b":") != 1:
            shown = tok.decode("utf-8", "replace")
            what = "has no ':'" if b":" not in tok else "has more than one ':'"
            raise _Malformed(f"feature {shown!r} {what} (expected index:value)", s, e)
        idx_text, val_text = tok.split(b":")
        index = _integer(idx_text, "feature index", s, e)
        if index < 0:
            raise _Malformed(f"negative feature index {index}", s, e)
        if index == 0 and zero_based is False:
            raise _Malformed("feature index 0 in a one-based file (zero_based=False)", s, e)
        if index > MAX_INDEX:
            raise _Malformed(f"feature index {index} is too large (the limit is 2**31 - 1)", s, e)
        _number(val_text, "feature value", s, e)
        if previous is not None and index <= previous:
            what = "repeated" if index == previous else "not increasing"
            raise _Malformed(f"feature indices are {what} ({previous} then {index})", s, e)
        if first is None:
            first = index
        previous, start = index, s
    return None if first is None else (first, previous, start)


def _shown(line: bytes, start: int, end: int) -> str:
    text = line.rstrip(b"\r\n")
    if len(text) > SHOW_CHARS:  # a window around the offending token
        lo = max(0, min(start, len(text)) - SHOW_CHARS // 2)
        hi = min(len(text), lo + SHOW_CHARS)
        text = (b"..." if lo > 0 else b"") + text[lo:hi] + (b"..." if hi < len(text) else b"")
    return text.decode("utf-8", "replace")


def _chunks(path: str):
    """(number of the first line, lines) of the file, CHUNK_LINES lines at a time."""
    with _open(path) as f:
        first, lines = 1, []
        for line in f:
            lines.append(line)
            if len(lines) == CHUNK_LINES:
                yield first, lines
                first, lines = first + len(lines), []
        if lines:
            yield first, lines


def _scan(path: str, first: int, lines: list[bytes], zero_based: bool | str,
          n_features: int | None = None, offset: int = 0) -> None:
    """Check the lines one by one; raise ArgumentValueError naming the first malformed one, if any."""
    for number, line in enumerate(lines, start=first):
        body = line.split(b"#", 1)[0]
        if not body.strip():
            continue
        try:
            span = _check_line(body, zero_based)
        except _Malformed as bad:
            raise ArgumentValueError(f"{path}, line {number}: {bad.reason}: "
                             f"{_shown(line, bad.start, bad.end)!r}") from None
        if n_features is not None and span is not None and span[1] - offset >= n_features:
            raise ArgumentValueError(f"{path}, line {number}: feature index {span[1]} is beyond n_features="
                             f"{n_features} ({'one' if offset else 'zero'}-based indices): "
                             f"{_shown(line, span[2], span[2])!r}")


def _raise_first_malformed(path: str, n_features: int | None, zero_based: bool | str) -> None:
    """Raise ArgumentValueError naming the first malformed line of the file, if there is one."""
    from sklearn.datasets import load_svmlight_file

    ranges = []  # (first line, smallest index, largest index) of the blocks that parse
    for first, lines in _chunks(path):
        try:  # raw indices (zero_based=True): the offset is the whole file's to decide
            X, y, _ = load_svmlight_file(io.BytesIO(b"".join(lines)), dtype=np.float64, zero_based=True,
                                         query_id=True)
            ok = bool(np.isfinite(X.data).all() and np.isfinite(y).all()
                      and not (zero_based is False and X.nnz and X.indices.min() == 0))
        except (ValueError, OverflowError, UnicodeDecodeError):
            ok = False
        if not ok:
            _scan(path, first, lines, zero_based)  # raises, unless the parsers disagree: go on
        elif X.nnz:
            ranges.append((first, int(X.indices.min()), int(X.indices.max())))
    if n_features is None or not ranges:
        return
    smallest = min(lo for _, lo, _ in ranges)
    offset = 1 if zero_based is False or (zero_based == "auto" and smallest > 0) else 0
    for start, _, hi in ranges:
        if hi - offset >= n_features:
            for first, lines in _chunks(path):
                if first == start:
                    _scan(path, first, lines, zero_based, n_features, offset)
