"""Any change to a built bag fails offline verification, naming the file at fault.

One bag is built once (SQLite) and copied for each case: every file of it flipped by one
byte, removed, a file added beside it, and the signature swapped for another key's.
``BAG_FILES`` is the bag's exact layout; the first test checks it against the real bag,
so the parametrisation covers every file. Each tampered bag is checked twice, as the
directory and packed into a tar (read in one pass, never extracted): both must fail alike.
"""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.export.schemas import RecipientKind
from service.export.verify import (
    BagVerificationError,
    load_public_key,
    verify_bag,
    verify_bag_at,
)
from tests.factories import Deployment
from tests.integration.export.conftest import export_world

Built = tuple[Path, Ed25519PublicKey, Ed25519PrivateKey]
REPO = Path(__file__).resolve().parents[3]
T = "data/testimonies/001"
BAG_FILES = sorted(
    [
        "bag-info.txt",
        "bagit.txt",
        "custody/checkpoint.txt",
        "custody/consistency-proof.json",
        "custody/events.jsonl",
        "custody/inclusion-proofs.json",
        "custody/log.vkey",
        "custody/previous-checkpoint.txt",
        f"{T}/attachments/01.txt",
        f"{T}/narrative-original.txt",
        f"{T}/testimony.json",
        f"{T}/translation-en.txt",
        "manifest-sha256.txt",
        "manifest-sha512.txt",
        "signature/signer-ed25519.pub.pem",
        "signature/tagmanifest-sha256.txt.sig",
        "tagmanifest-sha256.txt",
        "tagmanifest-sha512.txt",
    ]
)


@pytest.fixture(scope="module")
def built_bag(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    base = tmp_path_factory.mktemp("bag")
    data_dir = base / "data"
    data_dir.mkdir(mode=0o700)
    shutil.copyfile(sqlite_template, data_dir / "custodia.db")
    deployment = Deployment.create(data_dir, f"sqlite:///{data_dir / 'custodia.db'}")
    try:
        world = export_world(deployment)
        testimony = world.testimony(["judicial_proceedings"], attachment=True)
        built = world.approved_and_built(
            world.profile(RecipientKind.JUDICIAL_PROCEEDINGS), [testimony]
        )
        data = world.download(built["id"])
        key = deployment.runtime.keyring.signing_public_key()
        private = deployment.runtime.keyring.signing_key()
    finally:
        deployment.close()
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(base / "bag", filter="data")
    (root,) = list((base / "bag").iterdir())
    yield root, key, private


@pytest.fixture
def bag_copy(built_bag: Built, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built_bag[0], tmp_path / built_bag[0].name))


def packed(root: Path) -> Path:
    tar = root.parent / f"{root.name}.tar"
    with tarfile.open(tar, "w") as archive:
        archive.add(root, arcname=root.name)
    return tar


def failure(root: Path, key: Ed25519PublicKey | None) -> str:
    """The error for the bag directory, which the same bag as a tar must give too."""
    with pytest.raises(BagVerificationError) as caught:
        verify_bag(root, key)
    with pytest.raises(BagVerificationError) as from_tar:
        verify_bag_at(packed(root), key)
    assert str(from_tar.value) == str(caught.value)
    return str(caught.value)


def test_the_parametrised_layout_is_the_whole_bag(built_bag: Built) -> None:
    root, key, _ = built_bag
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    assert files == BAG_FILES
    assert verify_bag(root, key).signer_trusted


def test_the_bag_as_a_tar_verifies_as_the_directory_does(built_bag: Built, tmp_path: Path) -> None:
    root, key, _ = built_bag
    copy = Path(shutil.copytree(root, tmp_path / root.name))

    from_dir, from_tar = verify_bag(copy, key), verify_bag_at(packed(copy), key)

    assert from_tar == from_dir
    assert from_tar.payload_files == 4 and from_tar.signer_trusted


@pytest.mark.parametrize("name", BAG_FILES)
def test_flipping_one_byte_of_any_file_fails_naming_it(
    bag_copy: Path, built_bag: Built, name: str
) -> None:
    path = bag_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    assert name in failure(bag_copy, built_bag[1])


@pytest.mark.parametrize("name", BAG_FILES)
def test_removing_any_file_fails_naming_it(bag_copy: Path, built_bag: Built, name: str) -> None:
    (bag_copy / name).unlink()

    assert name in failure(bag_copy, built_bag[1])


@pytest.mark.parametrize("name", ["data/testimonies/001/extra.txt", "custody/extra.json", "x.txt"])
def test_adding_a_file_anywhere_fails_naming_it(
    bag_copy: Path, built_bag: Built, name: str
) -> None:
    (bag_copy / name).write_text("planted\n")

    assert name in failure(bag_copy, built_bag[1])


def test_a_signature_by_another_key_fails_against_the_trusted_key(
    bag_copy: Path, built_bag: Built
) -> None:
    impostor = Ed25519PrivateKey.generate()
    signature = impostor.sign((bag_copy / "tagmanifest-sha256.txt").read_bytes())
    (bag_copy / "signature/tagmanifest-sha256.txt.sig").write_bytes(
        base64.b64encode(signature) + b"\n"
    )

    assert "signature/tagmanifest-sha256.txt.sig" in failure(bag_copy, built_bag[1])


def test_without_a_key_the_embedded_one_is_used_and_the_cli_warns(bag_copy: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "bundle", "verify", str(bag_copy)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "only" in result.stderr and "self-consistent" in result.stderr


def test_the_cli_exits_non_zero_and_names_the_tampered_file(
    bag_copy: Path, built_bag: Built
) -> None:
    target = bag_copy / T / "translation-en.txt"
    target.write_bytes(target.read_bytes().replace(b"beaten", b"bitten"))
    vkey = (bag_copy / "custody/log.vkey").read_text().strip()
    assert load_public_key(vkey).public_bytes_raw() == built_bag[1].public_bytes_raw()

    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "bundle", "verify", str(bag_copy), "--key", vkey],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert f"{T}/translation-en.txt" in result.stderr


def test_a_payload_file_re_manifested_and_re_signed_still_fails_against_its_custody_event(
    bag_copy: Path, built_bag: Built
) -> None:
    """Someone holding the signing key rewrites a file and every manifest: the custody
    event recorded at packaging time, inside the signed log, still gives them away."""
    import hashlib

    from service.export.bag import FileDigest, manifest_text

    signer = built_bag[2]
    target = bag_copy / T / "translation-en.txt"
    target.write_bytes(b"A different account.\n")

    def digests(names: list[str]) -> dict[str, FileDigest]:
        out = {}
        for name in names:
            data = (bag_copy / name).read_bytes()
            out[name] = FileDigest(
                len(data), hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest()
            )
        return out

    payload = digests([n for n in BAG_FILES if n.startswith("data/")])
    info = (bag_copy / "bag-info.txt").read_text().splitlines()
    total = sum(d.size for d in payload.values())
    info = [
        f"Payload-Oxum: {total}.{len(payload)}" if x.startswith("Payload-Oxum") else x for x in info
    ]
    (bag_copy / "bag-info.txt").write_text("\n".join(info) + "\n")
    for algorithm in ("sha256", "sha512"):
        (bag_copy / f"manifest-{algorithm}.txt").write_bytes(manifest_text(payload, algorithm))
    tags = digests(
        [n for n in BAG_FILES if not n.startswith(("data/", "tagmanifest-", "signature/"))]
    )
    for algorithm in ("sha256", "sha512"):
        (bag_copy / f"tagmanifest-{algorithm}.txt").write_bytes(manifest_text(tags, algorithm))
    signature = signer.sign((bag_copy / "tagmanifest-sha256.txt").read_bytes())
    (bag_copy / "signature/tagmanifest-sha256.txt.sig").write_bytes(base64.b64encode(signature))
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    (bag_copy / "signature/signer-ed25519.pub.pem").write_bytes(
        signer.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )

    message = failure(bag_copy, built_bag[1])

    assert message.startswith(f"{T}/translation-en.txt: differs from the hash its custody event")


def _tar_of(tmp_path: Path, members: list[tuple[str, bytes | None]]) -> Path:
    """A tar of ``(name, data)`` members, ``None`` data meaning a symbolic link."""
    path = tmp_path / "crafted.tar"
    with tarfile.open(path, "w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([("bag/bagit.txt", b"a"), ("bag/bagit.txt", b"b")], "bagit.txt: appears twice"),
        ([("bag/data/x", None)], "bag/data/x: tar member is not a plain file"),
        ([("bag/../escape.txt", b"x")], "bag/../escape.txt: tar member points outside"),
        ([("one/bagit.txt", b"a"), ("two/bagit.txt", b"b")], "exactly one top-level"),
        ([("bagit.txt", b"a")], "exactly one top-level"),
    ],
)
def test_a_tar_that_is_not_one_directory_of_plain_files_is_refused_before_any_check(
    tmp_path: Path, members: list[tuple[str, bytes | None]], expected: str
) -> None:
    with pytest.raises(BagVerificationError) as caught:
        verify_bag_at(_tar_of(tmp_path, members))

    assert expected in str(caught.value)


def test_a_file_that_is_not_a_tar_is_refused_by_name(tmp_path: Path) -> None:
    junk = tmp_path / "bag.tar"
    junk.write_bytes(b"not a tar archive at all" * 40)

    with pytest.raises(BagVerificationError) as caught:
        verify_bag_at(junk)

    assert str(caught.value) == "bag.tar: is neither a bag directory nor a readable tar archive"


def test_a_truncated_tar_fails_and_a_compressed_one_verifies(
    built_bag: Built, tmp_path: Path
) -> None:
    root, key, _ = built_bag
    whole = packed(Path(shutil.copytree(root, tmp_path / root.name)))
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    compressed = tmp_path / "bag.tar.gz"
    with tarfile.open(compressed, "w:gz") as archive:
        archive.add(root, arcname=root.name)

    with pytest.raises(BagVerificationError):
        verify_bag_at(cut, key)
    assert verify_bag_at(compressed, key) == verify_bag(root, key)
