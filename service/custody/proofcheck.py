"""Checking a served proof against the signed checkpoint it names, as a recipient would.

The server computes proofs from its own tables; what makes one worth showing an auditor is
that it leads to a root the log's key signed. These checks use only the proof, the signed
note and the verifier key, never the database.
"""

from __future__ import annotations

import base64

from service.custody.merkle import MerkleError, leaf_hash, verify_consistency, verify_inclusion
from service.custody.note import NoteError, parse_verifier_key, verify_checkpoint
from service.custody.schemas import ConsistencyProofRead, InclusionProofRead


class ProofCheckError(Exception):
    """The proof does not hold; the message names the failed check."""


def _signed_root(note: str | None, size: int, verifier_key: str, origin: str) -> bytes:
    if note is None:
        raise ProofCheckError(f"no signed checkpoint exists at tree size {size}")
    try:
        checkpoint = verify_checkpoint(note, [parse_verifier_key(verifier_key)], origin)
    except NoteError as error:
        raise ProofCheckError(f"the checkpoint at size {size} does not verify: {error}") from None
    if checkpoint.size != size:
        raise ProofCheckError(f"the checkpoint is for size {checkpoint.size}, not {size}")
    return checkpoint.root_hash


def check_inclusion(proof: InclusionProofRead, verifier_key: str, origin: str) -> None:
    """Raises ProofCheckError unless the event's bytes reach the signed root."""
    root = _signed_root(proof.checkpoint, proof.tree_size, verifier_key, origin)
    computed_leaf = leaf_hash(base64.b64decode(proof.leaf_data))
    if computed_leaf.hex() != proof.leaf_hash:
        raise ProofCheckError("the event's canonical bytes do not hash to its leaf hash")
    try:
        path = [bytes.fromhex(p) for p in proof.proof]
        verify_inclusion(computed_leaf, proof.leaf_index, proof.tree_size, path, root)
    except (MerkleError, ValueError) as error:
        raise ProofCheckError(str(error)) from None


def check_consistency(proof: ConsistencyProofRead, verifier_key: str, origin: str) -> None:
    """Raises ProofCheckError unless the signed tree ``first`` is a prefix of ``second``."""
    first_root = _signed_root(proof.first_checkpoint, proof.first, verifier_key, origin)
    second_root = _signed_root(proof.second_checkpoint, proof.second, verifier_key, origin)
    try:
        path = [bytes.fromhex(p) for p in proof.proof]
        verify_consistency(proof.first, proof.second, first_root, second_root, path)
    except (MerkleError, ValueError) as error:
        raise ProofCheckError(str(error)) from None
