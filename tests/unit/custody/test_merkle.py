"""Specification tests for service.custody.merkle (RFC 9162 §2.1).

Published vectors come from transparency-dev/merkle (the Go library behind Trillian and
the CT ecosystem), which took them from Google's certificate-transparency code:

* ``proof/verify_test.go``: the 8 leaves, the roots of sizes 1..8, the inclusion-proof
  vectors and the consistency-proof vectors, and the corruption probes used below.
* ``rfc6962/rfc6962_test.go``: leaf / node / empty hash vectors.
"""

from __future__ import annotations

import hashlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.custody.merkle import (
    EMPTY_ROOT,
    MemorySubtreeStore,
    MerkleError,
    ProofError,
    completed_nodes_after_append,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

FAST = settings(max_examples=150, deadline=None, database=None)


def h(hex_string: str) -> bytes:
    return bytes.fromhex(hex_string)


# transparency-dev/merkle proof/verify_test.go: `leaves`
LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]

# transparency-dev/merkle proof/verify_test.go: `roots` (sizes 1..8) and
# `sha256EmptyTreeHash` (size 0).
ROOTS = {
    0: h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    1: h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    2: h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    3: h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    4: h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    5: h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    6: h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    7: h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    8: h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
}

# transparency-dev/merkle proof/verify_test.go: `inclusionProofs`. The Go table numbers
# leaves from 1 ({leaf, size, proof}); here they are converted to 0-based indices.
INCLUSION_VECTORS: list[tuple[int, int, list[bytes]]] = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# transparency-dev/merkle proof/verify_test.go: `consistencyProofs` ({size1, size2, proof}).
CONSISTENCY_VECTORS: list[tuple[int, int, list[bytes]]] = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# transparency-dev/merkle proof/verify_test.go: `sha256SomeHash`
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def vector_store() -> MemorySubtreeStore:
    return MemorySubtreeStore([leaf_hash(d) for d in LEAVES])


# --------------------------------------------------------------------------------------
# Hashing
# --------------------------------------------------------------------------------------


def test_hasher_vectors_from_rfc6962_test_go() -> None:
    # transparency-dev/merkle rfc6962/rfc6962_test.go: TestRFC6962Hasher
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == EMPTY_ROOT
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"L123456") == h(
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456") == h(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    a, b = leaf_hash(b"Hello"), leaf_hash(b"World")
    assert a != b
    assert node_hash(a, b) != leaf_hash(a + b)
    assert node_hash(a, b) != node_hash(b, a)


@pytest.mark.parametrize("size", sorted(ROOTS))
def test_published_roots(size: int) -> None:
    hashes = [leaf_hash(d) for d in LEAVES[:size]]
    assert root_from_leaf_hashes(hashes) == ROOTS[size]
    assert root(size, vector_store()) == ROOTS[size]


def test_memory_store_root_tracks_every_size() -> None:
    store = MemorySubtreeStore()
    assert store.size == 0
    assert store.root() == ROOTS[0]
    for i, data in enumerate(LEAVES, start=1):
        store.append(leaf_hash(data))
        assert store.size == i
        assert store.root() == ROOTS[i]


# --------------------------------------------------------------------------------------
# Published proof vectors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION_VECTORS)
def test_published_inclusion_proofs(index: int, size: int, expected: list[bytes]) -> None:
    store = vector_store()
    assert inclusion_proof(index, size, store) == expected
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, expected, ROOTS[size])


@pytest.mark.parametrize(("first", "second", "expected"), CONSISTENCY_VECTORS)
def test_published_consistency_proofs(first: int, second: int, expected: list[bytes]) -> None:
    assert consistency_proof(first, second, vector_store()) == expected
    verify_consistency(first, second, ROOTS[first], ROOTS[second], expected)


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS[1:])
def test_inclusion_corruption_probes_are_rejected(
    index: int, size: int, proof: list[bytes]
) -> None:
    # The probes of corruptInclusionProof() in transparency-dev/merkle proof/verify_test.go.
    leaf, good_root = leaf_hash(LEAVES[index]), ROOTS[size]
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (index - 1, size, good_root, leaf, proof),
        (index + 1, size, good_root, leaf, proof),
        (index ^ 2, size, good_root, leaf, proof),
        (index, size * 2, good_root, leaf, proof),
        (index, size // 2, good_root, leaf, proof),
        (index, size, good_root, b"WrongLeaf", proof),
        (index, size, EMPTY_ROOT, leaf, proof),
        (index, size, SOME_HASH, leaf, proof),
        (index, size, good_root, leaf, [*proof, b""]),
        (index, size, good_root, leaf, [*proof, good_root]),
        (index, size, good_root, leaf, [b"", *proof]),
        (index, size, good_root, leaf, [good_root, *proof]),
        (index, size, good_root, leaf, proof[:-1]),
    ]
    if len(proof) > 1:
        probes.append((index, size, good_root, leaf, [proof[0], SOME_HASH, *proof[1:]]))
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((index, size, good_root, leaf, bad))
    for p_index, p_size, p_root, p_leaf, p_proof in probes:
        with pytest.raises(ProofError):
            verify_inclusion(p_leaf, p_index, p_size, p_proof, p_root)


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY_VECTORS[1:])
def test_consistency_corruption_probes_are_rejected(
    first: int, second: int, proof: list[bytes]
) -> None:
    # The probes of corruptConsistencyProof() in transparency-dev/merkle proof/verify_test.go.
    r1, r2 = ROOTS[first], ROOTS[second]
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (first - 1, second, r1, r2, proof),
        (first + 1, second, r1, r2, proof),
        (first ^ 2, second, r1, r2, proof),
        (first, second * 2, r1, r2, proof),
        (first, second // 2, r1, r2, proof),
        (first, second, b"WrongRoot", r2, proof),
        (first, second, r1, b"WrongRoot", proof),
        (first, second, r2, r1, proof),
        (first, second, r1, r2, []),
        (first, second, r1, r2, [*proof, b""]),
        (first, second, r1, r2, [*proof, r1]),
        (first, second, r1, r2, [*proof, r2]),
        (first, second, r1, r2, [b"", *proof]),
        (first, second, r1, r2, [r1, *proof]),
        (first, second, r1, r2, [r2, *proof]),
        (first, second, r1, r2, [proof[0], *proof]),
        (first, second, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((first, second, r1, r2, bad))
    for p_first, p_second, p_r1, p_r2, p_proof in probes:
        with pytest.raises(ProofError):
            verify_consistency(p_first, p_second, p_r1, p_r2, p_proof)


def test_single_entry_inclusion() -> None:
    # transparency-dev/merkle proof/verify_test.go: TestVerifyInclusionSingleEntry
    leaf = leaf_hash(b"data")
    verify_inclusion(leaf, 0, 1, [], leaf)
    for bad_leaf, bad_root in [(leaf, b""), (b"", leaf), (b"", b"")]:
        with pytest.raises(ProofError):
            verify_inclusion(bad_leaf, 0, 1, [], bad_root)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_rejects_bad_root_or_leaf_for_trivial_sizes(index: int, size: int) -> None:
    # transparency-dev/merkle proof/verify_test.go: TestVerifyInclusion probes.
    for leaf, root_hash in [(SOME_HASH, b""), (b"", EMPTY_ROOT), (SOME_HASH, EMPTY_ROOT)]:
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, [], root_hash)


# --------------------------------------------------------------------------------------
# Edge cases and policy
# --------------------------------------------------------------------------------------


def test_inclusion_proof_generation_rejects_out_of_range() -> None:
    store = vector_store()
    for index, size in [(0, 0), (8, 8), (3, 3), (-1, 4)]:
        with pytest.raises(MerkleError):
            inclusion_proof(index, size, store)


def test_inclusion_verification_rejects_out_of_range_index() -> None:
    with pytest.raises(ProofError, match="not below tree size"):
        verify_inclusion(leaf_hash(b"x"), 3, 3, [SOME_HASH, SOME_HASH], SOME_HASH)
    with pytest.raises(ProofError, match="not below tree size"):
        verify_inclusion(leaf_hash(b"x"), -1, 3, [SOME_HASH, SOME_HASH], SOME_HASH)


def test_consistency_first_zero_is_invalid() -> None:
    # RFC 9162 §2.1.4 defines consistency proofs only for 0 < first. (transparency-dev
    # accepts 0 as "always consistent"; we refuse, because an empty tree proves nothing.)
    with pytest.raises(MerkleError):
        consistency_proof(0, 5, vector_store())
    with pytest.raises(ProofError, match="must be > 0"):
        verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    with pytest.raises(ProofError):
        verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])


def test_consistency_first_after_second_is_invalid() -> None:
    with pytest.raises(MerkleError):
        consistency_proof(5, 4, vector_store())
    with pytest.raises(ProofError, match="exceeds"):
        verify_consistency(5, 4, ROOTS[5], ROOTS[4], [SOME_HASH])


def test_consistency_equal_sizes() -> None:
    # Same size: empty proof, identical roots; anything else is a fork.
    assert consistency_proof(5, 5, vector_store()) == []
    verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])
    with pytest.raises(ProofError, match="roots differ"):
        verify_consistency(5, 5, ROOTS[5], ROOTS[6], [])
    with pytest.raises(ProofError, match="empty proof"):
        verify_consistency(5, 5, ROOTS[5], ROOTS[5], [EMPTY_ROOT])


def test_consistency_needs_nonempty_proof_for_growth() -> None:
    with pytest.raises(ProofError, match="must have 1 elements, got 0"):
        verify_consistency(1, 2, ROOTS[1], ROOTS[2], [])


def test_hash_length_errors_are_precise() -> None:
    with pytest.raises(ProofError, match="proof element 1 must be 32 bytes"):
        verify_inclusion(leaf_hash(b"x"), 0, 4, [SOME_HASH, b"short"], SOME_HASH)
    with pytest.raises(ProofError, match="root hash must be 32 bytes"):
        verify_inclusion(leaf_hash(b"x"), 0, 1, [], b"")
    with pytest.raises(ProofError, match="first root hash must be 32 bytes"):
        verify_consistency(1, 2, b"", SOME_HASH, [SOME_HASH])


def test_proof_error_is_a_merkle_error() -> None:
    assert issubclass(ProofError, MerkleError)


def test_memory_store_refuses_missing_subtrees() -> None:
    store = vector_store()  # 8 leaves
    with pytest.raises(MerkleError):
        store.subtree(0, 8)
    with pytest.raises(MerkleError):
        store.subtree(4, 0)
    with pytest.raises(MerkleError):
        store.subtree(-1, 0)
    assert store.subtree(3, 0) == ROOTS[8]


def test_completed_nodes_after_append_matches_definition() -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(70)]
    stored: dict[tuple[int, int], bytes] = {}
    for n, lh in enumerate(hashes):
        asked: list[tuple[int, int]] = []

        def lookup(level: int, index: int, asked: list[tuple[int, int]] = asked) -> bytes:
            asked.append((level, index))
            return stored[(level, index)]

        nodes = completed_nodes_after_append(n, lh, lookup)
        # Exactly the perfect subtrees whose last leaf is leaf n.
        expected = [
            (level, n >> level)
            for level in range(n.bit_length() + 1)
            if (n + 1) % (1 << level) == 0
        ]
        assert [(lvl, idx) for lvl, idx, _ in nodes] == expected
        for lvl, idx, node in nodes:
            begin = idx << lvl
            assert node == root_from_leaf_hashes(hashes[begin : begin + (1 << lvl)])
            stored[(lvl, idx)] = node
        # It only ever reads left siblings that already exist.
        assert asked == [(lvl, idx - 1) for lvl, idx, _ in nodes[:-1]]


def test_completed_nodes_after_append_rejects_bad_input() -> None:
    with pytest.raises(MerkleError):
        completed_nodes_after_append(-1, SOME_HASH, lambda _l, _i: SOME_HASH)
    with pytest.raises(MerkleError):
        completed_nodes_after_append(0, b"short", lambda _l, _i: SOME_HASH)
    with pytest.raises(MerkleError):
        completed_nodes_after_append(1, SOME_HASH, lambda _l, _i: b"short")


def test_memory_store_append_returns_completed_nodes() -> None:
    store = MemorySubtreeStore()
    nodes = [store.append(leaf_hash(d)) for d in LEAVES]
    assert [len(n) for n in nodes] == [1, 2, 1, 3, 1, 2, 1, 4]
    assert nodes[-1][-1] == (3, 0, ROOTS[8])


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------


def tree(size: int, salt: int) -> tuple[list[bytes], MemorySubtreeStore]:
    hashes = [leaf_hash(f"{salt}:{i}".encode()) for i in range(size)]
    return hashes, MemorySubtreeStore(hashes)


def flip(value: bytes, bit: int) -> bytes:
    bit %= len(value) * 8
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@FAST
@given(st.integers(1, 300), st.integers(0, 2**32), st.data())
def test_property_inclusion_proofs_verify(size: int, salt: int, data: st.DataObject) -> None:
    hashes, store = tree(size, salt)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(index, size, store)
    want_root = root_from_leaf_hashes(hashes)
    assert root(size, store) == want_root
    verify_inclusion(hashes[index], index, size, proof, want_root)


@FAST
@given(st.integers(1, 300), st.integers(0, 2**32), st.data())
def test_property_consistency_proofs_verify(size: int, salt: int, data: st.DataObject) -> None:
    hashes, store = tree(size, salt)
    first = data.draw(st.integers(1, size), label="first")
    second = data.draw(st.integers(first, size), label="second")
    proof = consistency_proof(first, second, store)
    verify_consistency(
        first,
        second,
        root_from_leaf_hashes(hashes[:first]),
        root_from_leaf_hashes(hashes[:second]),
        proof,
    )


@FAST
@given(st.integers(1, 300), st.integers(0, 2**32), st.data())
def test_property_inclusion_tampering_is_detected(
    size: int, salt: int, data: st.DataObject
) -> None:
    hashes, store = tree(size, salt)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(index, size, store)
    good_root = root_from_leaf_hashes(hashes)
    leaf = hashes[index]
    bit = data.draw(st.integers(0, 255), label="bit")

    with pytest.raises(ProofError):
        verify_inclusion(flip(leaf, bit), index, size, proof, good_root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, flip(good_root, bit))
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip(bad[i], bit)
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, bad, good_root)
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="drop")
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, proof[:at] + proof[at + 1 :], good_root)
    at = data.draw(st.integers(0, len(proof)), label="insert")
    extra = data.draw(st.sampled_from([SOME_HASH, good_root, leaf]), label="extra")
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, [*proof[:at], extra, *proof[at:]], good_root)


@FAST
@given(st.integers(2, 300), st.integers(0, 2**32), st.data())
def test_property_consistency_tampering_is_detected(
    size: int, salt: int, data: st.DataObject
) -> None:
    hashes, store = tree(size, salt)
    first = data.draw(st.integers(1, size - 1), label="first")
    second = data.draw(st.integers(first + 1, size), label="second")
    proof = consistency_proof(first, second, store)
    r1 = root_from_leaf_hashes(hashes[:first])
    r2 = root_from_leaf_hashes(hashes[:second])
    bit = data.draw(st.integers(0, 255), label="bit")

    with pytest.raises(ProofError):
        verify_consistency(first, second, flip(r1, bit), r2, proof)
    with pytest.raises(ProofError):
        verify_consistency(first, second, r1, flip(r2, bit), proof)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip(bad[i], bit)
        with pytest.raises(ProofError):
            verify_consistency(first, second, r1, r2, bad)
    at = data.draw(st.integers(0, len(proof) - 1), label="drop")
    with pytest.raises(ProofError):
        verify_consistency(first, second, r1, r2, proof[:at] + proof[at + 1 :])
    at = data.draw(st.integers(0, len(proof)), label="insert")
    extra = data.draw(st.sampled_from([SOME_HASH, r1, r2]), label="extra")
    with pytest.raises(ProofError):
        verify_consistency(first, second, r1, r2, [*proof[:at], extra, *proof[at:]])


@FAST
@given(st.integers(1, 300), st.integers(0, 2**32))
def test_property_incremental_store_matches_reference_roots(size: int, salt: int) -> None:
    hashes, store = tree(size, salt)
    for n in {1, size // 2 or 1, size - 1 or 1, size}:
        assert root(n, store) == root_from_leaf_hashes(hashes[:n])


# --------------------------------------------------------------------------------------
# O(log n) subtree lookups
# --------------------------------------------------------------------------------------


class SyntheticStore:
    """Computes fake subtree hashes on demand and checks each request is legitimate.

    Hash values are synthetic (proofs will not verify) — this store only measures how
    many lookups proof generation makes on a tree far too big to build in a unit test.
    """

    def __init__(self) -> None:
        self.tree_size = 0
        self.lookups = 0

    def subtree(self, level: int, index: int) -> bytes:
        assert level >= 0
        assert index >= 0
        assert (index + 1) << level <= self.tree_size, "asked for an incomplete subtree"
        self.lookups += 1
        return hashlib.sha256(f"{level}/{index}".encode()).digest()


class CountingStore:
    def __init__(self, inner: MemorySubtreeStore) -> None:
        self.inner = inner
        self.lookups = 0

    def subtree(self, level: int, index: int) -> bytes:
        self.lookups += 1
        return self.inner.subtree(level, index)


def lookup_bound(n: int) -> int:
    return 2 * math.ceil(math.log2(n)) + 2


@FAST
@given(st.integers(2**20, 2**40), st.data())
def test_lookups_are_logarithmic_on_huge_synthetic_trees(n: int, data: st.DataObject) -> None:
    store = SyntheticStore()
    store.tree_size = n
    index = data.draw(st.integers(0, n - 1), label="index")
    proof = inclusion_proof(index, n, store)
    assert store.lookups <= lookup_bound(n)
    assert len(proof) <= math.ceil(math.log2(n))

    first = data.draw(st.integers(1, n - 1), label="first")
    store.lookups = 0
    consistency_proof(first, n, store)
    assert store.lookups <= lookup_bound(n)

    store.lookups = 0
    root(n, store)
    assert store.lookups == n.bit_count()


def test_lookups_worst_cases_near_powers_of_two() -> None:
    store = SyntheticStore()
    for n in [2**20 - 1, 2**20, 2**20 + 1, 2**21 - 1, 3 * 2**19 + 7]:
        store.tree_size = n
        for index in [0, 1, n // 2, n - 2, n - 1]:
            store.lookups = 0
            inclusion_proof(index, n, store)
            assert store.lookups <= lookup_bound(n), (n, index)
        for first in [1, 2, n // 2, n // 2 + 1, n - 2, n - 1]:
            store.lookups = 0
            consistency_proof(first, n, store)
            assert store.lookups <= lookup_bound(n), (n, first)


def test_lookups_on_a_real_100k_tree() -> None:
    n = 100_000
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    store = MemorySubtreeStore(hashes)
    counting = CountingStore(store)
    full_root = root(n, store)
    for index in [0, 1, 4095, 65_535, 65_536, 99_998, 99_999]:
        counting.lookups = 0
        proof = inclusion_proof(index, n, counting)
        assert counting.lookups <= lookup_bound(n)
        verify_inclusion(hashes[index], index, n, proof, full_root)
    for first in [1, 3, 65_536, 70_001, 99_999]:
        counting.lookups = 0
        proof = consistency_proof(first, n, counting)
        assert counting.lookups <= lookup_bound(n)
        verify_consistency(first, n, root(first, store), full_root, proof)
