"""The custody Merkle tree as stored in the database.

Leaf hashes live on ``custody_events.leaf_hash``; completed inner subtrees live in
``custody_tree_nodes``. Both are written in the transaction that appends the event.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.custody.merkle import MerkleError, completed_nodes_after_append
from service.custody.models import CustodyEvent, CustodyTreeNode


class DatabaseSubtrees:
    """``SubtreeHashes`` over the stored tree; raises MerkleError for a missing node."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def subtree(self, level: int, index: int) -> bytes:
        if level == 0:
            value = self._session.scalar(
                select(CustodyEvent.leaf_hash).where(CustodyEvent.seq == index)
            )
        else:
            value = self._session.scalar(
                select(CustodyTreeNode.hash).where(
                    CustodyTreeNode.level == level, CustodyTreeNode.idx == index
                )
            )
        if value is None:
            raise MerkleError(f"the stored tree has no node at level {level}, index {index}")
        return value


def store_completed_nodes(session: Session, size_before: int, leaf: bytes) -> None:
    """Insert the inner nodes completed by appending leaf number ``size_before``."""
    subtrees = DatabaseSubtrees(session)
    for level, index, digest in completed_nodes_after_append(size_before, leaf, subtrees.subtree):
        if level > 0:
            session.add(CustodyTreeNode(level=level, idx=index, hash=digest))
