"""A shorter copy of the sentence matrix that lets a question skip most of it and still find the exact top.

The exact search reads every sentence vector once per question: 1.97 GB and about 130 ms at 1.3 million
sentences (#28). Here each vector is rotated into the matrix's principal directions (an orthonormal basis,
so every inner product is unchanged) and stored in short form: its first `head` coordinates, then the
length of each of a few blocks of the rest. For a question q and a sentence v,

    q·v = q_head·v_head + sum over blocks b of q_b·v_b  <=  q_head·v_head + sum over b of |q_b| |v_b|

(Cauchy-Schwarz per block), and the right-hand side is one matrix-vector product over the short rows, 38%
of the matrix's bytes (a third of the coordinates and 16 lengths). The exact scores of a few rows give a
score the `take`-th best sentence reaches at least; every row whose bound reaches it is scored exactly from
the full matrix, and no other row can be in the top. The result is the exact search's, not an
approximation: no recall to tune, no build that differs between two ingests (a score can differ from the
whole scan's in its last float bit, as between two machines). When a question is far from every sentence
the bounds rule out few rows; the search then answers None and the caller scans the whole matrix as before.

Written once per generation at commit, after the matrix (ingest/reading.py); a generation written before
has no such file and is searched whole. The basis is taken from the matrix (the eigenvectors of the
vectors' second moment, most variance first) only to make the bounds tight; any orthonormal basis keeps
the result exact, so a machine that rounds it differently finds the same sentences.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

__all__ = ["BASIS", "HEAD", "SentenceBound", "write_bound"]

HEAD = "sentence_head.npy"
BASIS = "sentence_basis.npy"
# rows rotated this many at a time (memory: one block of the matrix, never all of it)
_BLOCK = 20_000
# rows of the matrix the basis is taken from (evenly spaced): enough for a 384x384 second moment
_SAMPLE = 50_000
# slack on every bound: float32 rounding of the rotation and of the products is ~1e-6
_EPS = 1e-3
# rows scored exactly to learn the score to beat; at least `take`
_POOL = 512
# past this share of rows to rescore, gathering them costs more than scanning the matrix once
_MOST = 8


def _shape(dim: int) -> tuple[int, np.ndarray]:
    """Head coordinates kept whole, and where the tail's blocks start (relative to the tail).

    A third: on a 257,149-sentence index and 16 in-corpus questions a quarter left up to 31,641 rows to score
    exactly (21 ms at p90 against 18 ms for the whole scan), a third at most 5,546 but one (10 ms), a half
    at most 1,101 for 8 ms at p50 (more bytes scanned); see docs/performance.md."""
    head = dim // 3
    tail = dim - head
    blocks = min(16, tail)
    return head, np.asarray([round(i * tail / blocks) for i in range(blocks)], dtype=np.int64) if blocks else np.zeros(0, np.int64)


def _short(rows: np.ndarray, basis: np.ndarray, head: int, starts: np.ndarray) -> np.ndarray:
    """Rotated rows as (head coordinates, length of each tail block), float32."""
    rotated = rows @ basis.T.astype(rows.dtype)
    parts = [rotated[:, :head]]
    if len(starts):
        parts.append(np.sqrt(np.add.reduceat(rotated[:, head:] ** 2, starts, axis=1)))
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


def _blocks(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows) of the .npy matrix at `path`, _BLOCK rows at a time, each read through a map closed
    after it: one map kept for the whole file would hold every page it touched resident, the matrix's size
    counted in the ingest's peak (#28)."""
    shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
    for start in range(0, shape[0], _BLOCK):
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        yield start, np.array(mapped[start : start + _BLOCK], dtype=np.float32)
        del mapped


def write_bound(folder: Path, matrix: Path) -> None:
    """Write the short rows and the basis of the sentence matrix in the .npy file `matrix` into `folder`."""
    rows, dim = np.load(matrix, mmap_mode="r", allow_pickle=False).shape
    step = max(1, rows // _SAMPLE)
    moment = np.zeros((dim, dim))
    for start, block in _blocks(matrix):
        sample = block[(-start) % step :: step].astype(np.float64)  # every step-th row of the whole matrix
        moment += sample.T @ sample
    # eigh of the second moment: a full orthonormal basis, even from fewer rows than dimensions
    values, vectors = np.linalg.eigh(moment)
    basis = vectors[:, np.argsort(-values, kind="stable")].T  # rows: directions, most variance first
    head, starts = _shape(dim)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": (rows, head + len(starts))}

    def short_rows(handle: IO[bytes]) -> None:
        np.lib.format.write_array_header_1_0(handle, header)
        for _, block in _blocks(matrix):
            handle.write(_short(block, basis, head, starts).tobytes())

    _replace(folder / HEAD, short_rows)
    _replace(folder / BASIS, lambda handle: np.save(handle, basis, allow_pickle=False))


def _replace(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write `path` under another name and rename it: a reader sees the file whole or not at all."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}-", delete=False) as handle:
        try:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            os.unlink(handle.name)
            raise
    os.replace(handle.name, path)


@dataclass(frozen=True)
class SentenceBound:
    """The short rows (memory-mapped) and basis of one generation's sentence matrix."""

    short: np.ndarray
    basis: np.ndarray
    head: int
    starts: np.ndarray

    @classmethod
    def open(cls, folder: Path, vectors: np.ndarray) -> SentenceBound | None:
        """The bound files of `folder` when both are there and were made from the matrix `vectors` (None
        otherwise: a generation written before them is searched whole)."""
        if not ((folder / HEAD).is_file() and (folder / BASIS).is_file()):
            return None
        try:
            short = np.asarray(np.load(folder / HEAD, mmap_mode="r", allow_pickle=False))  # a plain array on the map
            basis = np.load(folder / BASIS, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        rows, dim = vectors.shape
        head, starts = _shape(dim)
        if not (basis.shape == (dim, dim) and short.shape == (rows, head + len(starts))):
            return None
        # the first and last rows, made again: files of another matrix, or a head and a basis that do not
        # belong together, would give bounds that are not bounds
        ends = [0, rows - 1] if rows else []
        made = _short(np.asarray(vectors[ends], dtype=np.float32), basis, head, starts)
        return cls(short, basis, head, starts) if np.allclose(made, short[ends], atol=1e-4) else None

    def candidates(self, vectors: np.ndarray, query: np.ndarray, take: int) -> np.ndarray | None:
        """Rows (ascending) that hold every one of the `take` rows of `vectors` nearest to `query`; None when
        the bounds rule out too few rows to pay (scan the whole matrix instead)."""
        total = len(self.short)
        want = max(_POOL, take)
        if want >= total:  # no more rows than a pool: the whole scan is the cheapest
            return None
        bound = self.short @ _short(query[None, :].astype(np.float64), self.basis, self.head, self.starts)[0]
        # a pool of about _POOL rows with the highest bounds, found from every stride-th bound
        stride = max(1, total // (8 * want))
        sample = bound[::stride]
        kth = max(1, want // stride)
        pool = np.flatnonzero(bound >= np.partition(sample, len(sample) - kth)[len(sample) - kth]) if kth < len(sample) else None
        if pool is None or len(pool) < take:
            pool = np.sort(np.argpartition(bound, total - want)[total - want :])
        exact = np.asarray(vectors[pool], dtype=np.float32) @ query
        beat = np.partition(exact, len(exact) - take)[len(exact) - take]  # the take-th best is at least this
        rows = np.flatnonzero(bound >= beat - _EPS)
        return rows if len(rows) * _MOST <= total else None
