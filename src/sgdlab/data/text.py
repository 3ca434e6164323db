"""Public-domain texts shipped with sgdlab, for the character-level language model.

Each text is a file ``sgdlab/data/texts/NAME.txt`` (package data): a header of lines starting with
``#`` (the source and its public-domain status), a blank line, then the text itself.

* ``genesis_kjv``: the Book of Genesis, chapters 1-11, in the King James Version (1611), from
  Debian's ``bible-kjv-text`` package; 34,961 characters, 69 distinct.

>>> from sgdlab.data import load_text
>>> text = load_text("genesis_kjv")
>>> text[:54]
'CHAPTER 1\\nIn the beginning God created the heaven and '
>>> len(text), len(set(text))
(34961, 69)
"""

from __future__ import annotations

from importlib import resources

from .._validation import Options, check

__all__ = ["available_texts", "load_text", "text_notice"]

_PACKAGE = "sgdlab.data"
_FOLDER = "texts"


def available_texts() -> list[str]:
    """The names of the shipped texts, sorted.

    >>> from sgdlab.data.text import available_texts
    >>> available_texts()
    ['genesis_kjv']
    """
    folder = resources.files(_PACKAGE).joinpath(_FOLDER)
    return sorted(f.name[:-4] for f in folder.iterdir() if f.name.endswith(".txt"))


def _read(name: str) -> tuple[str, str]:
    """(header, text) of the shipped text ``name``."""
    name = check("name", name, Options(*available_texts()))
    raw = resources.files(_PACKAGE).joinpath(_FOLDER, f"{name}.txt").read_text(encoding="utf-8")
    lines = raw.splitlines(keepends=True)
    n = 0
    while n < len(lines) and lines[n].startswith("#"):
        n += 1
    if n == 0 or n >= len(lines) or lines[n].strip():
        raise ValueError(f"{name}.txt: expected a '#' header, a blank line, then the text")
    return "".join(lines[:n]), "".join(lines[n + 1:])


def load_text(name: str = "genesis_kjv") -> str:
    """The shipped text ``name`` (see :func:`available_texts`), without its header.

    Raises:
        ValueError: an unknown ``name`` (the message lists the available ones); TypeError: a name
            that is not a string.
    """
    return _read(name)[1]


def text_notice(name: str = "genesis_kjv") -> str:
    """The header of the shipped text ``name``: its source and public-domain status, without the
    leading ``#`` marks.

    >>> from sgdlab.data.text import text_notice
    >>> text_notice("genesis_kjv").splitlines()[0]
    'The Book of Genesis, chapters 1-11, King James Version (Authorized Version, 1611).'
    """
    header = _read(name)[0]
    return "".join(line[2:] if line.startswith("# ") else line[1:] for line in header.splitlines(True))
