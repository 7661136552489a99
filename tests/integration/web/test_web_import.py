"""Importing a bag from another Custodia in the browser, on SQLite and PostgreSQL.

Specification: the page at /web/cases/{code}/import does what ``custodia import-bag`` does,
through the same domain service: only someone who may create testimonies in the case may
import; the whole bag is verified before anything is stored, and a bag that does not verify
is refused (422) naming the first file at fault; the same bag is imported once; the upload
is read in memory, CSRF-checked from its own fields and bounded in size (413, as a page);
an age-encrypted bag is refused so that no private identity is ever sent over the network;
the origin's key is pasted, never read from a file on the server; the page speaks Korean.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from httpx import Response

from service.context import Role
from service.custody.publish import verifier_key
from service.export.schemas import RecipientKind
from service.web import pages_import
from tests.factories import Account, Deployment
from tests.integration.export.conftest import ExportWorld, export_world
from tests.integration.export.test_reimport import (
    ORIGIN,
    WRITTEN_TABLES,
    _receiver_database,
    counts,
    import_events,
    plaintext_on_disk,
    rewrite_tar,
)
from tests.integration.web.conftest import Browser

ATTACHMENT = b"Sketch of the holding centre, described in words."
NARRATIVE = "2016년 5월 회령 보위부 구류장에서 조사를 받으며 매일 맞았습니다."
EMPTY = dict.fromkeys(WRITTEN_TABLES, 0)


@dataclass
class Sites:
    """An origin Custodia that exports, and this one (the browser's) that imports."""

    origin: Deployment
    receiver: Deployment
    world: ExportWorld
    case: str
    officer: Account

    def bag(self, tmp_path: Path, *, attachment: bool = False, **profile: Any) -> Path:
        testimony = self.world.testimony(["un_mechanisms"], attachment=attachment)
        built = self.world.approved_and_built(
            self.world.profile(RecipientKind.UN_MECHANISMS, **profile), [testimony]
        )
        path = tmp_path / f"bag-{built['id']}.tar"
        path.write_bytes(self.world.download(built["id"]))
        return path

    def origin_key(self) -> str:
        return published_key(self.origin)


def published_key(deployment: Deployment) -> str:
    """The verifier key a Custodia publishes (``name+id+base64``)."""
    return verifier_key(deployment.runtime.keyring, deployment.settings.custody_origin)


@pytest.fixture
def sites(
    request: pytest.FixtureRequest, web_deployment: Deployment, tmp_path: Path
) -> Iterator[Sites]:
    databases = _receiver_database(
        request, web_deployment.settings.effective_database_url, tmp_path / "origin"
    )
    origin = Deployment.create(
        tmp_path / "origin" / "data",
        next(databases),
        export_source_organization=ORIGIN,
        custody_origin="origin.example/custody",
    )
    try:
        case = web_deployment.case()
        yield Sites(
            origin=origin,
            receiver=web_deployment,
            world=export_world(origin),
            case=case,
            officer=web_deployment.user(Role.OFFICER, cases=(case,)),
        )
    finally:
        origin.close()
        next(databases, None)


@pytest.fixture
def english(browser: Browser) -> Browser:
    browser.client.headers["Accept-Language"] = "en"
    return browser


def page_of(sites: Sites) -> str:
    return f"/web/cases/{sites.case}/import"


def upload(
    browser: Browser,
    sites: Sites,
    bag: bytes,
    *,
    key: str = "",
    token: str | None = None,
    filename: str = "bag.tar",
) -> Response:
    fields = {"origin_key": key}
    if token is None:
        token = browser.csrf("/web/")
    if token:
        fields["csrf_token"] = token
    return browser.client.post(
        page_of(sites),
        data=fields,
        files={"bag": (filename, bag, "application/x-tar")},
        follow_redirects=False,
    )


def refusals(deployment: Deployment) -> list[str]:
    return [e["details"]["reason"] for e in import_events(deployment) if e["outcome"] != "ok"]


# ---- importing -------------------------------------------------------------------------------


def test_an_officer_imports_a_verified_bag_and_reads_its_testimonies(
    sites: Sites, english: Browser, tmp_path: Path
) -> None:
    bag = sites.bag(tmp_path, attachment=True)
    english.sign_in(sites.officer)
    case_page = english.get(f"/web/cases/{sites.case}")
    assert f'href="{page_of(sites)}"' in case_page.text and "Import a bag" in case_page.text
    form = english.get(page_of(sites))
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text and 'for="bag-file"' in form.text

    response = upload(english, sites, bag.read_bytes(), key=sites.origin_key())

    assert response.status_code == 200, response.text
    page = response.text
    assert ORIGIN in page and "Trusted: it matched the origin" in page
    events = import_events(sites.receiver)
    (bag_event,) = [e for e in events if e["action"] == "bag.import"]
    assert bag_event["outcome"] == "ok" and bag_event["channel"] == "web"
    assert bag_event["actor"] == sites.officer.username
    assert bag_event["details"]["origin_export_id"] in page
    assert bag_event["details"]["signer_trusted"] is True
    imported = list(bag_event["details"]["testimonies"].values())
    assert len(imported) == 1
    for testimony_id in imported:
        assert f'href="/web/testimonies/{testimony_id}"' in page
        testimony = english.get(f"/web/testimonies/{testimony_id}")
        assert testimony.status_code == 200
        assert NARRATIVE in testimony.text
        link = re.search(
            rf'href="(/web/testimonies/{testimony_id}/attachments/[^"]+)"', testimony.text
        )
        assert link, "the imported attachment is listed"
        assert english.get(link.group(1)).content == ATTACHMENT
    assert counts(sites.receiver)["testimonies"] == 1
    assert counts(sites.receiver)["attachments"] == 1
    words = (b"beaten every day", ATTACHMENT, NARRATIVE.encode())
    assert plaintext_on_disk(sites.receiver, words) == []  # the upload never reached the disk


def test_without_the_origins_key_the_import_warns_that_the_signer_is_not_trusted(
    sites: Sites, english: Browser, tmp_path: Path
) -> None:
    bag = sites.bag(tmp_path)
    english.sign_in(sites.officer)

    response = upload(english, sites, bag.read_bytes())

    assert response.status_code == 200, response.text
    assert "Not trusted: no published key was given" in response.text
    assert "Compare the key with the one the source organisation published" in response.text
    (bag_event,) = [e for e in import_events(sites.receiver) if e["action"] == "bag.import"]
    assert bag_event["details"]["signer_trusted"] is False


# ---- refusals --------------------------------------------------------------------------------


def test_a_tampered_bag_is_refused_naming_the_file_and_nothing_is_stored(
    sites: Sites, english: Browser, tmp_path: Path
) -> None:
    bag = sites.bag(tmp_path)
    name = "data/testimonies/001/narrative-original.txt"
    tampered = tmp_path / "tampered.tar"
    rewrite_tar(bag, tampered, name)
    english.sign_in(sites.officer)

    response = upload(english, sites, tampered.read_bytes(), key=sites.origin_key())

    assert response.status_code == 422, response.text
    assert "The bag does not verify, nothing was imported" in response.text
    assert f'First file at fault: <span class="mono">{name}</span>' in response.text
    assert 'name="bag"' in response.text  # the form is offered again
    assert counts(sites.receiver) == EMPTY
    assert refusals(sites.receiver) == ["verification"]


def test_a_file_that_is_not_a_tar_is_refused(sites: Sites, english: Browser) -> None:
    english.sign_in(sites.officer)

    response = upload(english, sites, b"this is not a tar archive at all" * 40)

    assert response.status_code == 422, response.text
    assert "is neither a bag directory nor a tar archive" in response.text
    assert counts(sites.receiver) == EMPTY


def test_investigators_auditors_and_other_officers_may_not_import(
    sites: Sites, english: Browser, tmp_path: Path
) -> None:
    bag = sites.bag(tmp_path).read_bytes()
    receiver = sites.receiver
    investigator = receiver.user(Role.INVESTIGATOR, cases=(sites.case,))
    auditor = receiver.user(Role.AUDITOR)
    outsider = receiver.user(Role.OFFICER, cases=(receiver.case(),))
    expected = {investigator.username: 403, auditor.username: 403, outsider.username: 404}

    for account in (investigator, auditor, outsider):
        other = Browser(receiver)
        other.client.headers["Accept-Language"] = "en"
        try:
            other.sign_in(account)
            if account is investigator:
                case_page = other.get(f"/web/cases/{sites.case}")
                assert case_page.status_code == 200 and "Import a bag" not in case_page.text
            assert other.get(page_of(sites)).status_code == expected[account.username]
            response = upload(other, sites, bag, key=sites.origin_key())
            assert response.status_code == expected[account.username], response.text
        finally:
            other.client.close()

    assert counts(receiver) == EMPTY
    assert [e for e in import_events(receiver) if e["action"] == "bag.import"] == []
    denied = [e["actor"] for e in receiver.custody_events() if e["action"] == "access.denied"]
    assert sorted(set(denied)) == sorted(expected)


def test_an_upload_without_this_sessions_csrf_token_is_refused(
    sites: Sites, english: Browser, tmp_path: Path
) -> None:
    bag = sites.bag(tmp_path).read_bytes()
    english.sign_in(sites.officer)

    missing = upload(english, sites, bag, token="")
    forged = upload(english, sites, bag, token="forged")
    as_form = english.client.post(page_of(sites), data={"origin_key": ""}, follow_redirects=False)

    assert missing.status_code == 403 and forged.status_code == 403
    assert "The form expired or did not come from this site." in missing.text
    assert as_form.status_code in (400, 403, 422)
    assert counts(sites.receiver) == EMPTY
    assert import_events(sites.receiver) == []


def test_an_age_encrypted_bag_is_refused_and_sent_to_the_command_line(
    sites: Sites, english: Browser, tmp_path: Path
) -> None:
    from pyrage import encrypt, x25519

    identity = x25519.Identity.generate()
    encrypted = encrypt(sites.bag(tmp_path).read_bytes(), [identity.to_public()])
    assert encrypted.startswith(b"age-encryption.org/")
    english.sign_in(sites.officer)

    response = upload(english, sites, encrypted, filename="bag.tar.age")

    assert response.status_code == 422, response.text
    assert "The bag is encrypted with age" in response.text
    assert "custodia import-bag --identity" in response.text
    assert "the private identity never travels over the network" in response.text
    assert counts(sites.receiver) == EMPTY
    assert refusals(sites.receiver) == ["encrypted"]


@pytest.mark.parametrize("key", ["@/etc/passwd", "@origin.vkey", "  @key.pem"])
def test_a_key_naming_a_file_is_refused_and_no_file_is_read(
    sites: Sites, english: Browser, tmp_path: Path, key: str
) -> None:
    english.sign_in(sites.officer)

    response = upload(english, sites, b"not read either", key=key)

    assert response.status_code == 422, response.text
    assert "a value starting with @ names a file" in response.text
    assert "root:" not in response.text
    assert counts(sites.receiver) == EMPTY
    assert import_events(sites.receiver) == []


def test_a_key_that_is_neither_a_verifier_key_nor_pem_is_refused(
    sites: Sites, english: Browser, tmp_path: Path
) -> None:
    english.sign_in(sites.officer)
    path_on_server = str(sites.receiver.settings.resolved_data_dir / "keyring.json")

    for key in ("not a key", path_on_server, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END"):
        response = upload(english, sites, b"unused", key=key)
        assert response.status_code == 422, response.text
        assert "neither a verifier key" in response.text

    assert counts(sites.receiver) == EMPTY


def test_a_key_other_than_the_signers_refuses_the_bag(
    sites: Sites, english: Browser, tmp_path: Path
) -> None:
    bag = sites.bag(tmp_path).read_bytes()
    english.sign_in(sites.officer)
    response = upload(english, sites, bag, key=published_key(sites.receiver))

    assert response.status_code == 422, response.text
    assert "is not the trusted key" in response.text
    assert counts(sites.receiver) == EMPTY


def test_the_same_bag_is_imported_once(sites: Sites, english: Browser, tmp_path: Path) -> None:
    bag = sites.bag(tmp_path).read_bytes()
    english.sign_in(sites.officer)

    first = upload(english, sites, bag, key=sites.origin_key())
    after_first = counts(sites.receiver)
    again = upload(english, sites, bag, key=sites.origin_key())

    assert first.status_code == 200, first.text
    assert again.status_code == 409, again.text
    assert "was already imported on" in again.text and "nothing was imported" in again.text
    assert counts(sites.receiver) == after_first
    assert refusals(sites.receiver) == ["duplicate bag"]


def test_a_bag_over_the_pages_limit_gets_a_413_page_and_nothing_is_stored(
    sites: Sites, english: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bag = sites.bag(tmp_path).read_bytes()
    english.sign_in(sites.officer)
    token = english.csrf("/web/")
    monkeypatch.setattr(pages_import, "MAX_WEB_BAG_BYTES", len(bag) // 2)

    declared = upload(english, sites, bag, token=token)  # refused by the app's guard
    chunks = [b"x" * 4096] * (len(bag) // 4096 + 1)
    streamed = english.client.post(  # no Content-Length: refused while it is read
        page_of(sites),
        content=iter(chunks),
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        follow_redirects=False,
    )

    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "The bag is larger than this page accepts" in response.text
        assert "custodia import-bag" in response.text
        assert "Content-Security-Policy" in response.headers
    assert counts(sites.receiver) == EMPTY
    assert pages_import.bag_upload_limit() <= pages_import.MAX_IMPORT_BAG_BYTES


def test_the_limit_is_never_above_the_import_services_own() -> None:
    assert pages_import.MAX_WEB_BAG_BYTES <= pages_import.MAX_IMPORT_BAG_BYTES


# ---- Korean ----------------------------------------------------------------------------------


def test_the_page_and_its_refusals_read_in_korean(
    sites: Sites, browser: Browser, tmp_path: Path
) -> None:
    browser.client.headers["Accept-Language"] = "ko-KR,ko;q=0.9"
    browser.sign_in(sites.officer)

    form = browser.get(page_of(sites))
    assert form.status_code == 200
    assert '<html lang="ko">' in form.text
    for label in (
        "꾸러미 가져오기",
        "꾸러미 파일 (.tar)",
        "출처가 공개한 키 (선택)",
        "검증하고 가져오기",
    ):
        assert label in form.text
    assert "꾸러미 가져오기" in browser.get(f"/web/cases/{sites.case}").text

    refused = upload(browser, sites, b"age-encryption.org/v1\n-> X25519 abc\n")
    assert refused.status_code == 422
    assert "이 꾸러미는 age로 암호화되어 있습니다" in refused.text
    assert "아무것도 저장되지 않았습니다." in refused.text


def test_the_language_cookie_chooses_korean_over_an_english_browser(
    sites: Sites, english: Browser
) -> None:
    english.sign_in(sites.officer)
    english.client.cookies.set("custodia_lang", "ko", path="/web")

    form = english.get(page_of(sites))

    assert "꾸러미 파일 (.tar)" in form.text and "Bag file (.tar)" not in form.text
