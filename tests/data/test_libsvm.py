"""sgdlab.data.load_libsvm: round trips through scikit-learn's writer; malformed files get an error
that names the line."""

import gzip
import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file

from sgdlab._validation import ArgumentValueError
from sgdlab.data import load_libsvm


def write(tmp_path, text, name="data.svm"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_round_trip_through_sklearn_writer(tmp_path):
    rng = np.random.default_rng(0)
    X = sp.random(50, 30, density=0.2, format="csr", random_state=1)
    X.data = np.round(X.data * 10, 4)  # decimal values: sklearn writes 16 significant digits, not 17
    y = rng.choice([-1.0, 1.0], size=50)
    path = tmp_path / "rt.svm"
    dump_svmlight_file(X, y, str(path), zero_based=False, comment="written by the test")
    X2, y2 = load_libsvm(path, n_features=30)
    assert isinstance(X2, sp.csr_matrix) and X2.dtype == np.float64 and X2.shape == (50, 30)
    np.testing.assert_array_equal(X2.toarray(), X.toarray())
    np.testing.assert_array_equal(y2, y)
    assert y2.dtype == np.float64


def test_hand_written_file_with_comments_blank_lines_qid_and_empty_row(tmp_path):
    path = write(tmp_path, "# header\n\n+1 qid:7 1:0.5 3:2 # trailing\n-1\n2.5\t2:1e-3\r\n")
    X, y = load_libsvm(path)
    np.testing.assert_array_equal(y, [1.0, -1.0, 2.5])
    np.testing.assert_array_equal(X.toarray(), [[0.5, 0, 2], [0, 0, 0], [0, 1e-3, 0]])


def test_zero_based_and_n_features(tmp_path):
    path = write(tmp_path, "1 0:1 2:3\n")
    X, _ = load_libsvm(path)  # "auto": an index 0 means zero-based
    np.testing.assert_array_equal(X.toarray(), [[1, 0, 3]])
    X, _ = load_libsvm(write(tmp_path, "1 1:1 2:3\n", "b.svm"), n_features=5, zero_based=True)
    np.testing.assert_array_equal(X.toarray(), [[0, 1, 3, 0, 0]])


def test_gzip(tmp_path):
    path = tmp_path / "d.svm.gz"
    with gzip.open(path, "wt") as f:
        f.write("1 1:2\n-1 2:3\n")
    X, y = load_libsvm(path)
    assert X.shape == (2, 2) and y.tolist() == [1.0, -1.0]


BAD = [
    ("non-numeric label", "1 1:0.5\n# comment\nabc 2:1\n", 3, "label 'abc' is not a number"),
    ("value not a number", "1 1:0.5\n-1 3:abc\n", 2, "feature value 'abc' is not a number"),
    ("missing colon", "1 1:0.5\n\n-1 2:1 3\n", 3, "feature '3' has no ':'"),
    ("decreasing indices", "1 1:0.5\n-1 3:1 2:1\n1 1:1\n", 2, "feature indices are not increasing (3 then 2)"),
    ("repeated index", "1 3:1 3:1\n", 1, "feature indices are repeated (3 then 3)"),
    ("negative index", "1 1:0.5\n1 2:1\n1 -3:1\n", 3, "negative feature index -3"),
    ("float index", "1 1.5:2\n", 1, "feature index '1.5' is not an integer"),
    ("two colons", "1 1:0.5\n1 1:2:3\n", 2, "has more than one ':'"),
    ("no label", "1 1:0.5\n2:0.5 3:1\n", 2, "not a label"),
    ("multi-label", "1,2 1:0.5\n", 1, "multi-label lines are not supported"),
    ("qid not an integer", "1 qid:1 1:1\n2 qid:x 1:1\n", 2, "qid 'x' is not an integer"),
    ("qid after the features", "1 1:1 qid:3\n", 1, "qid must come right after the label"),
    ("nan value", "1 1:1\n1 2:nan\n", 2, "feature value 'nan' is not finite"),
    ("infinite label", "inf 1:1\n", 1, "label 'inf' is not finite"),
    ("index too large", "1 1:1\n1 4294967296:1\n", 2, "is too large"),
]


@pytest.mark.parametrize("text, line, reason", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_line_is_named(tmp_path, text, line, reason):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        load_libsvm(path)
    message = str(info.value)
    offending = text.splitlines()[line - 1]
    assert message.startswith(f"{path}, line {line}: ")
    assert reason in message
    assert message.endswith(f": {offending!r}")


def test_a_malformed_file_is_an_argument_error_the_command_line_shows_as_one_line(tmp_path):
    path = write(tmp_path, "1 1:0.5\n-1 3:abc\n")
    with pytest.raises(ArgumentValueError, match=re.escape(f"{path}, line 2: ")):
        load_libsvm(path)


def test_one_based_file_with_index_zero(tmp_path):
    path = write(tmp_path, "1 1:1\n1 0:2\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 2: feature index 0 in a one-based file")):
        load_libsvm(path, zero_based=False)


def test_index_beyond_n_features_names_the_line(tmp_path):
    path = write(tmp_path, "1 1:1\n1 2:1 9:1\n1 3:1\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 2: feature index 9 is beyond n_features=5")):
        load_libsvm(path, n_features=5)


def test_long_line_shows_a_window_around_the_offending_token(tmp_path):
    pairs = " ".join(f"{j}:1" for j in range(1, 200))
    path = write(tmp_path, f"1 {pairs} 300:oops\n")
    with pytest.raises(ValueError, match="line 1: feature value 'oops' is not a number") as info:
        load_libsvm(path)
    assert "300:oops" in str(info.value) and len(str(info.value)) < 400


@pytest.mark.parametrize("text", ["", "# only a comment\n\n   \n"])
def test_empty_file(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=re.escape(f"{path}: no examples")):
        load_libsvm(path)


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope.svm"
    with pytest.raises(FileNotFoundError, match="nope.svm"):
        load_libsvm(path)


def test_invalid_arguments(tmp_path):
    path = write(tmp_path, "1 1:1\n")
    with pytest.raises(ValueError, match=re.escape("Invalid n_features: 0 (expected an int >= 1 or None)")):
        load_libsvm(path, n_features=0)
    with pytest.raises(TypeError, match=re.escape("Invalid n_features: '5' of type str")):
        load_libsvm(path, n_features="5")
    with pytest.raises(ValueError, match=re.escape("Invalid zero_based: 'yes' (expected True or False or one of "
                                                   "'auto')")):
        load_libsvm(path, zero_based="yes")
    with pytest.raises(TypeError, match="Invalid path: 3 of type int"):
        load_libsvm(3)


def test_numpy_integers_and_bools_are_taken_as_python_ones(tmp_path):
    path = write(tmp_path, "1 1:1\n")
    X, _ = load_libsvm(path, n_features=np.int64(3), zero_based=np.bool_(False))
    assert X.shape == (1, 3) and X[0, 0] == 1.0


def test_errors_found_across_blocks(tmp_path, monkeypatch):
    from sgdlab.data import libsvm

    monkeypatch.setattr(libsvm, "CHUNK_LINES", 2)  # the second pass parses blocks of 2 lines
    path = write(tmp_path, "1 1:1\n# c\n1 2:1\n1 3:1\n\n1 4:1 2:1\n1 5:1\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 6: feature indices are not increasing")):
        load_libsvm(path)
    # index 0 on line 5 makes the file zero-based: then index 6 on line 3 is the 7th feature
    path = write(tmp_path, "1 1:1\n1 2:1\n1 3:1 6:1\n1 1:1\n1 0:1\n", "z.svm")
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 3: feature index 6 is beyond n_features=6 "
                                                   "(zero-based indices)")):
        load_libsvm(path, n_features=6)
    path = write(tmp_path, "1 1:1\n1 2:1\n1 3:1 6:1\n1 1:1\n1 7:1\n", "o.svm")  # one-based: 7 is too far
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 5: feature index 7 is beyond n_features=6 "
                                                   "(one-based indices)")):
        load_libsvm(path, n_features=6)
