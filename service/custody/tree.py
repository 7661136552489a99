"""The custody Merkle tree as stored in the database.

Leaf hashes live on ``custody_events.leaf_hash``; completed inner subtrees live in
``custody_tree_nodes``. Both are written in the transaction that appends the event (``CustodyLog.append``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.custody.merkle import MerkleError
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
