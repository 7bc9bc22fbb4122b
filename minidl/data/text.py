"""Character-level text data for language models: a vocabulary and a dataset of (input, next-char) windows.

A character model reads ``block_size`` characters and predicts, at every position, the character
that comes next. So sample ``i`` is ``x = text[i : i+block_size]`` and ``y = text[i+1 : i+block_size+1]``
(encoded as integer ids), as in Karpathy's char-rnn and minGPT.

>>> vocab = CharVocab.from_text("hello")
>>> vocab.chars, vocab.encode("hole").tolist(), vocab.decode([3, 2, 1])
('ehlo', [1, 3, 2, 0], 'olh')
>>> ds = CharDataset("hello", block_size=3)
>>> len(ds), [vocab.decode(part) for part in ds[0]]
(2, ['hel', 'ell'])
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from minidl.data.dataset import Dataset

__all__ = ["CharDataset", "CharVocab"]


class CharVocab:
    """A mapping between characters and integer ids ``0 .. len(vocab) - 1`` (sorted by code point)."""

    def __init__(self, chars: Iterable[str]) -> None:
        self.chars = "".join(sorted(set(chars)))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        # a lookup table from code point to id (-1 for characters outside the vocabulary): encoding is one gather
        self._table = np.full(max(map(ord, self.chars), default=0) + 1, -1, dtype=np.int64)
        self._table[[ord(c) for c in self.chars]] = np.arange(len(self.chars))

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of every character that occurs in ``text``."""
        return cls(set(text))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """``text`` as an int64 array of ids; raises KeyError naming the first unknown character."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        ids = np.where(codes < len(self._table), self._table[np.minimum(codes, len(self._table) - 1)], -1)
        if (ids < 0).any():
            bad = text[int(np.argmax(ids < 0))]
            raise KeyError(f"character {bad!r} is not in the vocabulary of {len(self)} characters")
        return ids

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """The characters of ``ids`` (a list, an array or a Tensor of ids)."""
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters: {self.chars[:40]!r}{'...' if len(self) > 40 else ''})"


class CharDataset(Dataset):
    """Every window of ``block_size + 1`` characters of ``text``: ``(x, y)`` with y shifted by one.

    Pass ``vocab`` to share one vocabulary between a training and a validation dataset.
    """

    def __init__(self, text: str, block_size: int, vocab: CharVocab | None = None) -> None:
        if len(text) <= block_size:
            raise ValueError(f"CharDataset: text of {len(text)} characters is too short for block_size {block_size}")
        self.vocab = vocab if vocab is not None else CharVocab.from_text(text)
        self.block_size = block_size
        self.data = self.vocab.encode(text)

    def __len__(self) -> int:
        return len(self.data) - self.block_size

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} windows")
        chunk = self.data[index:index + self.block_size + 1]
        return chunk[:-1], chunk[1:]

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All windows at once: row ``r`` of the index grid is ``indices[r] + [0, 1, ..., block_size]``."""
        grid = np.asarray(indices, dtype=np.int64)[:, None] + np.arange(self.block_size + 1)
        chunks = self.data[grid]
        return chunks[:, :-1], chunks[:, 1:]
