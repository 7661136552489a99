"""The custody tag files are written a piece at a time, yet read as ordinary JSON documents."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.export.build import _json_bytes, _proofs_json

PROOF_LISTS: list[list[dict[str, Any]]] = [
    [],
    [{"seq": 1, "leaf_hash": "ab" * 32, "proof": []}],
    [
        {"seq": 3, "leaf_hash": "cd" * 32, "proof": ["ef" * 32, "01" * 32]},
        {"seq": 9, "leaf_hash": "23" * 32, "proof": ["45" * 32]},
    ],
]


@pytest.mark.parametrize("entries", PROOF_LISTS, ids=["none", "one", "two"])
def test_streamed_inclusion_proofs_are_byte_identical_to_the_whole_document(
    entries: list[dict[str, Any]],
) -> None:
    streamed = b"".join(_proofs_json(12, "ff" * 32, iter(entries)))
    whole = _json_bytes({"tree_size": 12, "root_hash": "ff" * 32, "proofs": entries})
    assert streamed == whole
    assert json.loads(streamed) == {"tree_size": 12, "root_hash": "ff" * 32, "proofs": entries}
