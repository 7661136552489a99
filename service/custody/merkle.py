"""RFC 9162 §2.1 Merkle tree hashing and proofs for the custody log.

The custody log is an append-only Merkle tree over event leaves. Everything here is pure:
no database, no clock, no I/O, so a court expert (or a test) can reason about it alone.

Proof generation never walks the leaves. It asks a :class:`SubtreeHashes` store for the
hashes of *complete, aligned* perfect subtrees, which never change once the log has grown
past them; every range the RFC recursion needs decomposes into O(log n) such subtrees.
The database layer persists exactly these nodes, in the same transaction as each event,
using :func:`completed_nodes_after_append`.

Verification (:func:`verify_inclusion`, :func:`verify_consistency`) recomputes roots by
decomposing the proof along the tree's shape. The standalone ``verifier`` package uses the
RFC's literal bit-walking algorithm instead, so the two implementations check each other.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemorySubtreeStore",
    "MerkleError",
    "ProofError",
    "SubtreeHashes",
    "SubtreeNode",
    "completed_nodes_after_append",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""MTH({}) — the hash of an empty tree (RFC 9162 §2.1.1)."""


class MerkleError(Exception):
    """Base class: the tree or a request about it is not well formed."""


class ProofError(MerkleError):
    """A proof did not verify; the message says which check failed."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the prefix keeps leaves and interior nodes from colliding."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): an interior node over two child hashes."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2): the RFC's split point k."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) straight from the RFC definition; the reference every fast path is tested on."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(root_from_leaf_hashes(hashes[:k]), root_from_leaf_hashes(hashes[k:]))


# --------------------------------------------------------------------------------------
# Subtree stores and the compact range
# --------------------------------------------------------------------------------------


class SubtreeHashes(Protocol):
    """Source of hashes of complete, aligned perfect subtrees.

    ``subtree(level, index)`` is the hash of the perfect subtree over leaves
    ``[index * 2**level, (index + 1) * 2**level)``; level 0 is the leaf hashes themselves.
    Such a node never changes once complete, so one store serves proofs for every tree size.
    Callers only ask for nodes that are complete in the tree size they are proving about.
    """

    def subtree(self, level: int, index: int) -> bytes: ...


SubtreeNode = tuple[int, int, bytes]
"""One completed perfect-subtree hash as ``(level, index, hash)``: a compact-range row."""


def completed_nodes_after_append(
    size_before: int, leaf_hash: bytes, lookup: Callable[[int, int], bytes]
) -> list[SubtreeNode]:
    """Nodes that become complete when leaf number ``size_before`` is appended.

    These are the leaf itself plus one parent per trailing 1-bit of ``size_before``: each
    time the new node is a right child, its left sibling already exists (fetched through
    ``lookup(level, index)``) and their parent is now complete. The caller inserts exactly
    these rows in the same transaction as the event, so the stored compact range can never
    disagree with the stored leaves.
    """
    if size_before < 0:
        raise MerkleError(f"size_before must be >= 0, got {size_before}")
    _check_hash(leaf_hash, "leaf hash", MerkleError)
    nodes: list[SubtreeNode] = [(0, size_before, leaf_hash)]
    level, index, current = 0, size_before, leaf_hash
    while index & 1:
        sibling = lookup(level, index - 1)
        _check_hash(sibling, f"stored subtree ({level}, {index - 1})", MerkleError)
        current = node_hash(sibling, current)
        level, index = level + 1, index >> 1
        nodes.append((level, index, current))
    return nodes


class MemorySubtreeStore:
    """In-memory compact-range store: every completed perfect subtree hash, by level.

    Appending does O(log n) work and keeps exactly the nodes the database layer would keep,
    which makes it the model the persistent store is tested against.
    """

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = []
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return len(self._levels[0]) if self._levels else 0

    def append(self, leaf_hash: bytes) -> list[SubtreeNode]:
        """Append one leaf hash; return the nodes it completed (see the module function)."""
        nodes = completed_nodes_after_append(self.size, leaf_hash, self.subtree)
        for level, index, node in nodes:
            if level == len(self._levels):
                self._levels.append([])
            row = self._levels[level]
            if index != len(row):  # pragma: no cover - guarded by construction
                raise MerkleError(f"compact range out of order at level {level}")
            row.append(node)
        return nodes

    def subtree(self, level: int, index: int) -> bytes:
        """Hash of a completed subtree; fails loudly rather than invent a missing node."""
        if level < 0 or index < 0 or level >= len(self._levels):
            raise MerkleError(f"no completed subtree at level {level}, index {index}")
        row = self._levels[level]
        if index >= len(row):
            raise MerkleError(f"no completed subtree at level {level}, index {index}")
        return row[index]

    def root(self) -> bytes:
        """Root of the whole tree as stored."""
        return root(self.size, self)


# --------------------------------------------------------------------------------------
# Proof generation (RFC 9162 §2.1.3.1, §2.1.4.1) over aligned subtrees
# --------------------------------------------------------------------------------------


def _range_hash(begin: int, end: int, store: SubtreeHashes) -> bytes:
    """MTH(D[begin:end]) for a range the RFC recursion can produce.

    Such a range starts on a boundary aligned to its largest power-of-two chunk, so it
    splits into perfect aligned subtrees of strictly decreasing size (one per set bit of
    ``end - begin``), and the RFC hash folds them right to left.
    """
    size = end - begin
    pieces: list[bytes] = []
    pos = begin
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            if pos % (1 << level):  # pragma: no cover - impossible for RFC sub-ranges
                raise MerkleError(f"range [{begin}, {end}) is not RFC-aligned")
            pieces.append(store.subtree(level, pos >> level))
            pos += 1 << level
    acc = pieces[-1]
    for piece in reversed(pieces[:-1]):
        acc = node_hash(piece, acc)
    return acc


def root(tree_size: int, store: SubtreeHashes) -> bytes:
    """MTH of the first ``tree_size`` leaves, from popcount(tree_size) subtree lookups."""
    if tree_size < 0:
        raise MerkleError(f"tree size must be >= 0, got {tree_size}")
    if tree_size == 0:
        return EMPTY_ROOT
    return _range_hash(0, tree_size, store)


def inclusion_proof(index: int, tree_size: int, store: SubtreeHashes) -> list[bytes]:
    """PATH(index, D[tree_size]), ordered from the leaf's sibling up to the root's child.

    Walking down the RFC recursion, every sibling is a perfect subtree except possibly the
    one right-hand sibling that touches the tree's ragged right edge; so the whole proof
    costs at most about 2*log2(tree_size) lookups.
    """
    if tree_size <= 0:
        raise MerkleError(f"no inclusion proof exists in a tree of size {tree_size}")
    if not 0 <= index < tree_size:
        raise MerkleError(f"leaf index {index} is outside a tree of size {tree_size}")
    path: list[bytes] = []
    begin, end = 0, tree_size
    while end - begin > 1:
        mid = begin + _split(end - begin)
        if index < mid:
            path.append(_range_hash(mid, end, store))
            end = mid
        else:
            path.append(_range_hash(begin, mid, store))
            begin = mid
    path.reverse()
    return path


def consistency_proof(first: int, second: int, store: SubtreeHashes) -> list[bytes]:
    """PROOF(first, D[second]) per RFC 9162 §2.1.4.1, bottom-up.

    The RFC defines proofs only for 0 < first < second. ``first == second`` yields the
    empty proof (the trees are identical; the verifier then demands equal roots), and
    ``first == 0`` is refused because an empty tree commits to nothing worth proving.
    """
    if first <= 0:
        raise MerkleError(f"consistency proofs need first > 0 (RFC 9162), got {first}")
    if first > second:
        raise MerkleError(f"first tree size {first} exceeds second tree size {second}")
    if first == second:
        return []
    path: list[bytes] = []
    begin, end = 0, second
    whole_old_tree = True  # the RFC's boolean: still on the old tree's own root path
    while True:
        if end == first:
            if not whole_old_tree:
                path.append(_range_hash(begin, end, store))
            break
        mid = begin + _split(end - begin)
        if first <= mid:
            path.append(_range_hash(mid, end, store))
            end = mid
        else:
            path.append(_range_hash(begin, mid, store))
            begin = mid
            whole_old_tree = False
    path.reverse()
    return path


# --------------------------------------------------------------------------------------
# Verification (RFC 9162 §2.1.3.2, §2.1.4.2)
# --------------------------------------------------------------------------------------


def _check_hash(value: bytes, what: str, error: type[MerkleError] = ProofError) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise error(f"{what} must be {HASH_SIZE} bytes")


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, element in enumerate(proof):
        _check_hash(element, f"proof element {i}")


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def _path_shape(index: int, last: int) -> tuple[int, int]:
    """(inner, border) proof lengths for node ``index`` in a row whose last node is ``last``.

    Below level ``inner`` the node's path runs through a perfect subtree (one sibling per
    level, side given by the index bit). Above it the path follows the tree's right edge,
    where only levels whose index bit is 1 have a (left) sibling.
    """
    inner = (index ^ last).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _fold_path(start: bytes, index: int, inner: int, path: Sequence[bytes]) -> bytes:
    acc = start
    for level, sibling in enumerate(path):
        if level >= inner or index >> level & 1:
            acc = node_hash(sibling, acc)
        else:
            acc = node_hash(acc, sibling)
    return acc


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Return None iff ``proof`` shows ``leaf_hash`` at ``index`` in the tree with ``root``.

    Raises :class:`ProofError` naming the failed check; it never returns a falsy verdict.
    """
    if tree_size <= 0:
        raise ProofError(f"tree size must be > 0 for an inclusion proof, got {tree_size}")
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is not below tree size {tree_size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root hash")
    _check_proof(proof)
    inner, border = _path_shape(index, tree_size - 1)
    if len(proof) != inner + border:
        raise ProofError(
            f"inclusion proof for leaf {index} in tree of size {tree_size} must have "
            f"{inner + border} elements, got {len(proof)}"
        )
    computed = _fold_path(leaf_hash, index, inner, proof)
    if not _same(computed, root):
        raise ProofError(
            f"inclusion proof for leaf {index} does not lead to the given root of tree size "
            f"{tree_size}"
        )


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Return None iff ``proof`` shows tree ``first`` is a prefix of tree ``second``.

    Raises :class:`ProofError` naming the failed check. ``first == 0`` is refused (RFC 9162
    defines proofs for 0 < first); ``first == second`` needs an empty proof and equal roots.
    """
    if first <= 0:
        raise ProofError(f"first tree size must be > 0 (RFC 9162), got {first}")
    if first > second:
        raise ProofError(f"first tree size {first} exceeds second tree size {second}")
    _check_hash(first_root, "first root hash")
    _check_hash(second_root, "second root hash")
    _check_proof(proof)
    if first == second:
        if proof:
            raise ProofError(f"trees of equal size need an empty proof, got {len(proof)}")
        if not _same(first_root, second_root):
            raise ProofError(f"roots differ for the same tree size {first}")
        return
    # The newest perfect subtree of the old tree (its "seed") sits at level tz(first).
    # When first is a power of two the seed is the old root itself and is not sent.
    level = (first & -first).bit_length() - 1
    seed_index = (first - 1) >> level
    inner, border = _path_shape(seed_index, (second - 1) >> level)
    seed_sent = seed_index != 0
    expected = int(seed_sent) + inner + border
    if len(proof) != expected:
        raise ProofError(
            f"consistency proof from {first} to {second} must have {expected} elements, "
            f"got {len(proof)}"
        )
    seed = proof[0] if seed_sent else first_root
    path = proof[1:] if seed_sent else proof
    # The old tree is the seed plus the left siblings on its path.
    old = seed
    for lvl, sibling in enumerate(path):
        if lvl >= inner or seed_index >> lvl & 1:
            old = node_hash(sibling, old)
    if not _same(old, first_root):
        raise ProofError(
            f"consistency proof from {first} to {second} does not reproduce the first root"
        )
    new = _fold_path(seed, seed_index, inner, path)
    if not _same(new, second_root):
        raise ProofError(
            f"consistency proof from {first} to {second} does not reproduce the second root"
        )
