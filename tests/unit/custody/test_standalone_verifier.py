"""Specification tests for verifier/custodia_verifier.py, the court-facing verifier.

The standalone verifier is a second implementation (RFC 9162's literal bit-walking
algorithms) of what service.custody.merkle does by tree decomposition. These tests check
it against the same published vectors (transparency-dev/merkle ``proof/verify_test.go``;
golang.org/x/mod ``sumdb/note/note_test.go``), differentially against the service on
random trees, that it stays independent of the service, and that its CLI keeps the
documented exit codes (0 ok, 1 verification failed, 2 usage error).
"""

from __future__ import annotations

import ast
import base64
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from service.custody import merkle
from service.custody.note import Checkpoint, encode_verifier_key, sign_checkpoint, sign_note
from verifier import custodia_verifier as cv

REPO_ROOT = Path(__file__).resolve().parents[3]
VERIFIER_FILE = REPO_ROOT / "verifier" / "custodia_verifier.py"
FAST = settings(max_examples=150, deadline=None, database=None)


def h(hex_string: str) -> bytes:
    return bytes.fromhex(hex_string)


# transparency-dev/merkle proof/verify_test.go: `leaves` and `roots` (sizes 1..8).
LEAVES = [
    h(x)
    for x in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = {
    1: h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    2: h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    3: h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    4: h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    5: h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    6: h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    7: h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    8: h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
}
# transparency-dev/merkle proof/verify_test.go: `inclusionProofs` (leaf numbers made 0-based)
INCLUSION_VECTORS = [
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
# transparency-dev/merkle proof/verify_test.go: `consistencyProofs`
CONSISTENCY_VECTORS = [
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
# golang.org/x/mod sumdb/note/note_test.go
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdn"
    "gotpRZb6KE6RyyBwJnAM=\n"
)


# --------------------------------------------------------------------------------------
# Independence
# --------------------------------------------------------------------------------------


def test_verifier_imports_only_stdlib_and_cryptography() -> None:
    tree = ast.parse(VERIFIER_FILE.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports would tie the verifier to a package"
            assert node.module is not None
            roots.add(node.module.split(".")[0])
    allowed = set(sys.stdlib_module_names) | {"cryptography", "__future__"}
    assert roots <= allowed, roots - allowed


def test_verifier_does_not_load_the_service() -> None:
    code = (
        "import sys, verifier.custodia_verifier\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'service'], 'service loaded'\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------------------
# Published vectors
# --------------------------------------------------------------------------------------


def test_hashing_matches_published_roots() -> None:
    for size, want in ROOTS.items():
        hashes = [cv.leaf_hash(d) for d in LEAVES[:size]]
        assert merkle.root_from_leaf_hashes(hashes) == want
    assert cv.node_hash(b"N123", b"N456") == h(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_published_inclusion_vectors(index: int, size: int, proof: list[bytes]) -> None:
    leaf = cv.leaf_hash(LEAVES[index])
    cv.verify_inclusion(leaf, index, size, proof, ROOTS[size])
    for bad_index, bad_size in [(index + 1, size), (index, size * 2), (index, size // 2)]:
        with pytest.raises(cv.VerificationError):
            cv.verify_inclusion(leaf, bad_index, bad_size, proof, ROOTS[size])


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY_VECTORS)
def test_published_consistency_vectors(first: int, second: int, proof: list[bytes]) -> None:
    cv.verify_consistency(first, second, ROOTS[first], ROOTS[second], proof)
    if proof:
        with pytest.raises(cv.VerificationError):
            cv.verify_consistency(first, second, ROOTS[second], ROOTS[first], proof)
        with pytest.raises(cv.VerificationError):
            cv.verify_consistency(first, second, ROOTS[first], ROOTS[second], proof[:-1])


def test_policy_edges_match_the_service() -> None:
    r = ROOTS[5]
    with pytest.raises(cv.VerificationError):
        cv.verify_consistency(0, 5, merkle.EMPTY_ROOT, r, [])
    with pytest.raises(cv.VerificationError):
        cv.verify_consistency(5, 4, r, ROOTS[4], [r])
    cv.verify_consistency(5, 5, r, r, [])
    with pytest.raises(cv.VerificationError):
        cv.verify_consistency(5, 5, r, ROOTS[6], [])
    with pytest.raises(cv.VerificationError):
        cv.verify_consistency(5, 5, r, r, [r])
    with pytest.raises(cv.VerificationError):
        cv.verify_inclusion(cv.leaf_hash(b""), 5, 5, [], r)


def test_go_signed_note_vector() -> None:
    key = cv.parse_vkey(PETER_VKEY)
    assert key.key_id == 0xC74F20A3
    assert cv.verify_signed_note(PETER_NOTE, [key]) == PETER_NOTE.split("\n\n")[0] + "\n"
    with pytest.raises(cv.VerificationError):
        cv.verify_signed_note(PETER_NOTE.replace("problem,", "problem;"), [key])


# --------------------------------------------------------------------------------------
# Differential testing against the service
# --------------------------------------------------------------------------------------


def verdict(check: Callable[[], None], error: type[Exception]) -> bool:
    """True if ``check`` accepted, False if it raised ``error`` (anything else propagates)."""
    try:
        check()
    except error:
        return False
    return True


def mutate(
    data: st.DataObject, proof: list[bytes], a: int, b: int, r1: bytes, r2: bytes
) -> tuple[list[bytes], int, int, bytes, bytes]:
    """Apply one random corruption (or none) to a proof and its parameters."""
    kind = data.draw(
        st.sampled_from(
            ["none", "flip", "drop", "add", "dup", "a+1", "a-1", "b+1", "b-1", "b*2", "swap"]
        ),
        label="mutation",
    )
    proof = list(proof)
    if kind == "flip" and proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        raw = bytearray(proof[i])
        raw[bit // 8] ^= 1 << (bit % 8)
        proof[i] = bytes(raw)
    elif kind == "drop" and proof:
        del proof[data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "add":
        proof.insert(data.draw(st.integers(0, len(proof))), r2)
    elif kind == "dup" and proof:
        proof.append(proof[-1])
    elif kind == "a+1":
        a += 1
    elif kind == "a-1":
        a -= 1
    elif kind == "b+1":
        b += 1
    elif kind == "b-1":
        b -= 1
    elif kind == "b*2":
        b *= 2
    elif kind == "swap":
        r1, r2 = r2, r1
    return proof, a, b, r1, r2


@FAST
@given(st.integers(1, 300), st.integers(0, 2**32), st.data())
def test_inclusion_verdicts_agree_with_service(size: int, salt: int, data: st.DataObject) -> None:
    hashes = [cv.leaf_hash(f"{salt}/{i}".encode()) for i in range(size)]
    store = merkle.MemorySubtreeStore(hashes)
    index = data.draw(st.integers(0, size - 1), label="index")
    good_root = merkle.root_from_leaf_hashes(hashes)
    proof = merkle.inclusion_proof(index, size, store)
    cv.verify_inclusion(hashes[index], index, size, proof, good_root)

    bad_proof, i, n, leaf, root = mutate(data, proof, index, size, hashes[index], good_root)
    service_ok = verdict(
        lambda: merkle.verify_inclusion(leaf, i, n, bad_proof, root), merkle.ProofError
    )
    standalone_ok = verdict(
        lambda: cv.verify_inclusion(leaf, i, n, bad_proof, root), cv.VerificationError
    )
    assert service_ok == standalone_ok


@FAST
@given(st.integers(1, 300), st.integers(0, 2**32), st.data())
def test_consistency_verdicts_agree_with_service(size: int, salt: int, data: st.DataObject) -> None:
    hashes = [cv.leaf_hash(f"{salt}/{i}".encode()) for i in range(size)]
    store = merkle.MemorySubtreeStore(hashes)
    first = data.draw(st.integers(1, size), label="first")
    second = data.draw(st.integers(first, size), label="second")
    r1 = merkle.root_from_leaf_hashes(hashes[:first])
    r2 = merkle.root_from_leaf_hashes(hashes[:second])
    proof = merkle.consistency_proof(first, second, store)
    cv.verify_consistency(first, second, r1, r2, proof)

    bad_proof, a, b, x1, x2 = mutate(data, proof, first, second, r1, r2)
    service_ok = verdict(
        lambda: merkle.verify_consistency(a, b, x1, x2, bad_proof), merkle.ProofError
    )
    standalone_ok = verdict(
        lambda: cv.verify_consistency(a, b, x1, x2, bad_proof), cv.VerificationError
    )
    assert service_ok == standalone_ok


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------

ORIGIN = "custodia.example/log"


class Evidence:
    """A small signed log: leaves, store, key, and helpers writing evidence files."""

    def __init__(self, directory: Path, size: int = 13) -> None:
        self.dir = directory
        self.leaves = [f"event {i}".encode() for i in range(size)]
        self.hashes = [merkle.leaf_hash(d) for d in self.leaves]
        self.store = merkle.MemorySubtreeStore(self.hashes)
        self.key = Ed25519PrivateKey.generate()
        self.vkey = encode_verifier_key(ORIGIN, self.key.public_key())

    def checkpoint(self, size: int, name: str, origin: str = ORIGIN) -> Path:
        body = Checkpoint(origin, size, merkle.root(size, self.store))
        path = self.dir / name
        path.write_text(sign_checkpoint(body, ORIGIN, self.key), encoding="utf-8")
        return path

    def write_json(self, name: str, doc: dict[str, Any]) -> Path:
        path = self.dir / name
        path.write_text(json.dumps(doc), encoding="utf-8")
        return path

    def inclusion_doc(self, index: int, size: int) -> dict[str, Any]:
        return {
            "leaf_index": index,
            "tree_size": size,
            "leaf_hash": self.hashes[index].hex(),
            "leaf_data": base64.b64encode(self.leaves[index]).decode(),
            "proof": [p.hex() for p in merkle.inclusion_proof(index, size, self.store)],
            "root_hash": merkle.root(size, self.store).hex(),
        }

    def consistency_doc(self, first: int, second: int) -> dict[str, Any]:
        return {
            "first": first,
            "second": second,
            "first_root": merkle.root(first, self.store).hex(),
            "second_root": merkle.root(second, self.store).hex(),
            "proof": [p.hex() for p in merkle.consistency_proof(first, second, self.store)],
        }


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "verifier.custodia_verifier", *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def evidence(tmp_path: Path) -> Evidence:
    return Evidence(tmp_path)


def test_cli_inclusion_ok_then_tampered(evidence: Evidence) -> None:
    ckpt = evidence.checkpoint(13, "ckpt.txt")
    good = evidence.write_json("inc.json", evidence.inclusion_doc(6, 13))
    result = run_cli("inclusion", good, "--checkpoint", ckpt, "--key", evidence.vkey)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: leaf 6")

    doc = evidence.inclusion_doc(6, 13)
    doc["proof"][1] = ("00" if doc["proof"][1][:2] != "00" else "01") + doc["proof"][1][2:]
    bad = evidence.write_json("bad.json", doc)
    result = run_cli("inclusion", bad, "--checkpoint", ckpt, "--key", evidence.vkey)
    assert result.returncode == 1
    assert "does not lead to the root" in result.stderr


def test_cli_consistency_ok_then_swapped(evidence: Evidence) -> None:
    old = evidence.checkpoint(5, "old.txt")
    new = evidence.checkpoint(13, "new.txt")
    proof = evidence.write_json("con.json", evidence.consistency_doc(5, 13))
    ok = run_cli("consistency", proof, "--old", old, "--new", new, "--key", evidence.vkey)
    assert ok.returncode == 0, ok.stderr
    assert "extends" in ok.stdout
    swapped = run_cli("consistency", proof, "--old", new, "--new", old, "--key", evidence.vkey)
    assert swapped.returncode == 1
    assert "old checkpoint" in swapped.stderr


def test_cli_wrong_key_is_a_verification_failure(evidence: Evidence) -> None:
    ckpt = evidence.checkpoint(13, "ckpt.txt")
    proof = evidence.write_json("inc.json", evidence.inclusion_doc(0, 13))
    stranger = encode_verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    result = run_cli("inclusion", proof, "--checkpoint", ckpt, "--key", stranger)
    assert result.returncode == 1
    assert "not signed by any of the given keys" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["inclusion"],
        ["inclusion", "p.json"],  # missing --checkpoint and --key
        ["frobnicate", "p.json"],
        ["consistency", "p.json", "--old", "a.txt", "--key", "k"],  # missing --new
    ],
)
def test_cli_usage_errors_exit_2(args: list[str]) -> None:
    assert run_cli(*args).returncode == 2


def test_cli_unreadable_file_and_bad_key_exit_2(evidence: Evidence) -> None:
    ckpt = evidence.checkpoint(13, "ckpt.txt")
    proof = evidence.write_json("inc.json", evidence.inclusion_doc(0, 13))
    missing = evidence.dir / "missing.json"
    result = run_cli("inclusion", missing, "--checkpoint", ckpt, "--key", evidence.vkey)
    assert result.returncode == 2
    assert "cannot read" in result.stderr
    result = run_cli("inclusion", proof, "--checkpoint", ckpt, "--key", "not-a-key")
    assert result.returncode == 2


def test_cli_key_from_file(evidence: Evidence) -> None:
    ckpt = evidence.checkpoint(13, "ckpt.txt")
    proof = evidence.write_json("inc.json", evidence.inclusion_doc(12, 13))
    key_file = evidence.dir / "log.vkey"
    key_file.write_text(evidence.vkey + "\n", encoding="utf-8")
    result = run_cli("inclusion", proof, "--checkpoint", ckpt, "--key", f"@{key_file}")
    assert result.returncode == 0, result.stderr


# The remaining CLI cases run in-process through main() to stay fast.


def main_exit(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = cv.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_main_leaf_data_must_match_leaf_hash(
    evidence: Evidence, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = evidence.checkpoint(13, "ckpt.txt")
    doc = evidence.inclusion_doc(3, 13)
    doc["leaf_data"] = base64.b64encode(b"a different event").decode()
    proof = evidence.write_json("inc.json", doc)
    code, _, err = main_exit(
        capsys, "inclusion", proof, "--checkpoint", ckpt, "--key", evidence.vkey
    )
    assert code == 1
    assert "leaf_data does not hash to leaf_hash" in err


def test_main_leaf_data_is_optional(evidence: Evidence, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = evidence.checkpoint(13, "ckpt.txt")
    doc = evidence.inclusion_doc(3, 13)
    del doc["leaf_data"]
    proof = evidence.write_json("inc.json", doc)
    code, out, _ = main_exit(
        capsys, "inclusion", proof, "--checkpoint", ckpt, "--key", evidence.vkey
    )
    assert code == 0
    assert out.startswith("OK")


def test_main_proof_must_match_checkpoint(
    evidence: Evidence, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = evidence.checkpoint(13, "ckpt.txt")
    # A valid proof, but for a different tree size than the signed checkpoint.
    proof = evidence.write_json("inc.json", evidence.inclusion_doc(3, 12))
    code, _, err = main_exit(
        capsys, "inclusion", proof, "--checkpoint", ckpt, "--key", evidence.vkey
    )
    assert code == 1
    assert "tree size 12" in err


def test_main_origin_checks(evidence: Evidence, capsys: pytest.CaptureFixture[str]) -> None:
    old = evidence.checkpoint(5, "old.txt")
    new = evidence.checkpoint(13, "new.txt", origin="custodia.example/another-log")
    proof = evidence.write_json("con.json", evidence.consistency_doc(5, 13))
    code, _, err = main_exit(
        capsys, "consistency", proof, "--old", old, "--new", new, "--key", evidence.vkey
    )
    assert code == 1
    assert "different logs" in err
    inc = evidence.write_json("inc.json", evidence.inclusion_doc(0, 5))
    code, _, err = main_exit(
        capsys, "inclusion", inc, "--checkpoint", old, "--key", evidence.vkey, "--origin", "x"
    )
    assert code == 1
    assert "not the expected" in err


def test_main_equal_sizes(evidence: Evidence, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = evidence.checkpoint(7, "ckpt.txt")
    proof = evidence.write_json("con.json", evidence.consistency_doc(7, 7))
    code, _, _ = main_exit(
        capsys, "consistency", proof, "--old", ckpt, "--new", ckpt, "--key", evidence.vkey
    )
    assert code == 0


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"leaf_index": 0}',
        '{"leaf_index": "0", "tree_size": 13, "leaf_hash": "", "proof": [], "root_hash": ""}',
        '{"leaf_index": true, "tree_size": 13, "leaf_hash": "", "proof": [], "root_hash": ""}',
    ],
)
def test_main_malformed_proof_is_a_failure(
    evidence: Evidence, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    ckpt = evidence.checkpoint(13, "ckpt.txt")
    proof = evidence.dir / "inc.json"
    proof.write_text(content, encoding="utf-8")
    code, _, err = main_exit(
        capsys, "inclusion", proof, "--checkpoint", ckpt, "--key", evidence.vkey
    )
    assert code == 1
    assert "VERIFICATION FAILED" in err


def test_main_malformed_hex_in_proof(
    evidence: Evidence, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = evidence.checkpoint(13, "ckpt.txt")
    doc = evidence.inclusion_doc(3, 13)
    doc["proof"][0] = "zz" * 32
    proof = evidence.write_json("inc.json", doc)
    code, _, err = main_exit(
        capsys, "inclusion", proof, "--checkpoint", ckpt, "--key", evidence.vkey
    )
    assert code == 1
    assert "not hex" in err


def test_main_tampered_checkpoint(evidence: Evidence, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = evidence.checkpoint(13, "ckpt.txt")
    ckpt.write_text(ckpt.read_text(encoding="utf-8").replace("\n13\n", "\n14\n"), encoding="utf-8")
    proof = evidence.write_json("inc.json", evidence.inclusion_doc(3, 13))
    code, _, err = main_exit(
        capsys, "inclusion", proof, "--checkpoint", ckpt, "--key", evidence.vkey
    )
    assert code == 1
    assert "INVALID" in err


def test_main_accepts_any_of_several_keys(
    evidence: Evidence, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = evidence.checkpoint(13, "ckpt.txt")
    proof = evidence.write_json("inc.json", evidence.inclusion_doc(3, 13))
    retired = encode_verifier_key("retired.example/log", Ed25519PrivateKey.generate().public_key())
    code, _, _ = main_exit(
        capsys,
        "inclusion",
        proof,
        "--checkpoint",
        ckpt,
        "--key",
        retired,
        "--key",
        evidence.vkey,
    )
    assert code == 0


def test_standalone_reads_notes_signed_by_the_service() -> None:
    private = Ed25519PrivateKey.generate()
    key = cv.parse_vkey(encode_verifier_key("a.example/b", private.public_key()))
    text = "a.example/b\n3\n" + base64.b64encode(bytes(32)).decode() + "\n"
    note = sign_note(text, "a.example/b", private)
    checkpoint = cv.verify_checkpoint(note, [key], "a.example/b")
    assert (checkpoint.origin, checkpoint.size, checkpoint.root_hash) == (
        "a.example/b",
        3,
        bytes(32),
    )
