"""Builders for export tests: a deployment with two investigators, a profile and testimonies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.context import Role
from service.export.schemas import RecipientKind
from tests.factories import Account, Deployment, interview_record, unique

API = "/api/v1"
CANARY = "Canarywitnessname Zqxjvbn"


@dataclass
class ExportWorld:
    deployment: Deployment
    case: str
    officer: Account
    requester: Account
    approver: Account

    def testimony(self, scopes: list[str], *, attachment: bool = False) -> str:
        record = interview_record(self.case, consent={"scopes": scopes, "given_on": "2024-03-14"})
        record["witness"]["identity"]["legal_name"] = CANARY
        record["witness"]["identity"]["contact"] = CANARY + " contact"
        created = self.deployment.create_testimony(self.officer, record)
        if attachment:
            response = self.deployment.client.post(
                f"{API}/testimonies/{created['id']}/attachments",
                content=b"Sketch of the holding centre, described in words.",
                headers={
                    **self.officer.headers,
                    "Content-Type": "text/plain",
                    "Content-Disposition": "attachment; filename*=UTF-8''sketch.txt",
                },
            )
            assert response.status_code == 201, response.text
        testimony_id: str = created["id"]
        return testimony_id

    def profile(self, kind: RecipientKind, **extra: Any) -> str:
        name = unique(f"{kind.value}-")
        response = self.deployment.client.post(
            f"{API}/exports/profiles",
            json={"name": name, "kind": kind.value, **extra},
            headers=self.deployment.admin.headers,
        )
        assert response.status_code == 201, response.text
        return name

    def request(self, profile: str, ids: list[str], who: Account | None = None) -> Any:
        return self.deployment.client.post(
            f"{API}/exports",
            json={
                "profile": profile,
                "purpose": "Evidence for the prosecution of detention abuses.",
                "testimony_ids": ids,
            },
            headers=(who or self.requester).headers,
        )

    def approved_and_built(self, profile: str, ids: list[str]) -> dict[str, Any]:
        created = self.request(profile, ids)
        assert created.status_code == 201, created.text
        export_id = created.json()["id"]
        client = self.deployment.client
        approved = client.post(
            f"{API}/exports/{export_id}:approve", json={}, headers=self.approver.headers
        )
        assert approved.status_code == 200, approved.text
        built = client.post(f"{API}/exports/{export_id}:build", headers=self.requester.headers)
        assert built.status_code == 200, built.text
        result: dict[str, Any] = built.json()
        return result

    def download(self, export_id: str) -> bytes:
        response = self.deployment.client.get(
            f"{API}/exports/{export_id}/bag", headers=self.requester.headers
        )
        assert response.status_code == 200, response.text
        return response.content


def export_world(deployment: Deployment) -> ExportWorld:
    case = deployment.case()
    return ExportWorld(
        deployment=deployment,
        case=case,
        officer=deployment.user(Role.OFFICER, cases=(case,)),
        requester=deployment.user(Role.INVESTIGATOR, cases=(case,)),
        approver=deployment.user(Role.INVESTIGATOR, cases=(case,)),
    )
