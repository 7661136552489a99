"""A shred needs two administrators: one requests, a different one approves.

Every refusal is on the record as ``access.denied`` and leaves nothing else behind: no
request row, no destroyed secret, no deleted file, no change to the testimony.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from service.context import Role
from service.runtime import Scope
from service.shred.models import ShredRequest
from service.testimony import models
from tests.factories import Deployment
from tests.integration.shred.world import REASON, Made, World, build_world


def _state(world: World, made: Made) -> dict[str, Any]:
    deployment = world.deployment

    def work(scope: Scope) -> dict[str, Any]:
        testimony = scope.session.get_one(models.Testimony, made.id)
        return {
            "requests": [
                (r.id, r.approved_at)
                for r in scope.session.scalars(select(ShredRequest).order_by(ShredRequest.id))
            ],
            "shredded_at": testimony.shredded_at,
            "wrapped_key": testimony.wrapped_key,
            "versions": scope.session.scalar(
                select(func.count()).where(models.TestimonyVersion.testimony_id == made.id)
            ),
        }

    state: dict[str, Any] = deployment.run(None, work)
    state["secrets"] = sorted(p.name for p in deployment.settings.shred_secrets_path.iterdir())
    state["attachment_stored"] = deployment.runtime.attachments.exists(made.attachment_id)
    return state


def test_the_requester_cannot_approve_their_own_shred(deployment: Deployment) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    request = world.request_shred(made.id, by=world.second_admin)
    before = _state(world, made)
    since = len(deployment.custody_events())

    refused = world.approve(request["id"], by=world.second_admin)

    assert refused.status_code == 403, refused.text
    assert "second administrator" in refused.json()["detail"]
    assert _state(world, made) == before
    assert world.read(made.id).status_code == 200
    events = deployment.custody_events()[since:]
    assert [(e["action"], e["actor"], e["outcome"]) for e in events][:1] == [
        ("access.denied", world.second_admin.username, "denied")
    ]
    assert json.loads(events[0]["details"])["reason"] == "own_request"

    approved = world.approve(request["id"], by=world.admin)
    assert approved.status_code == 200, approved.text
    assert world.read(made.id).status_code == 410


def test_non_administrators_can_neither_request_nor_approve(deployment: Deployment) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    auditor = deployment.user(Role.AUDITOR)
    pending = world.request_shred(made.id)
    before = _state(world, made)

    for who in (world.officer, world.investigator, auditor):
        asked = deployment.client.post(
            "/api/v1/shred-requests",
            json={"testimony_id": made.id, "reason": REASON},
            headers=who.headers,
        )
        approved = world.approve(pending["id"], by=who)
        listed = deployment.client.get("/api/v1/shred-requests", headers=who.headers)
        assert (who.role, asked.status_code, approved.status_code, listed.status_code) == (
            who.role,
            403,
            403,
            403,
        )

    assert _state(world, made) == before
    assert world.read(made.id).status_code == 200


def test_an_approved_request_cannot_be_approved_again(deployment: Deployment) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    request = world.request_shred(made.id)
    assert world.approve(request["id"]).status_code == 200
    third = deployment.user(Role.ADMIN)

    again = world.approve(request["id"], by=third)

    assert again.status_code == 409
    unknown = world.approve(999_999, by=third)
    assert unknown.status_code == 404


def test_a_request_needs_a_reason_and_a_real_testimony(deployment: Deployment) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    client, headers = deployment.client, world.admin.headers

    short = client.post(
        "/api/v1/shred-requests", json={"testimony_id": made.id, "reason": "no"}, headers=headers
    )
    missing = client.post(
        "/api/v1/shred-requests",
        json={"testimony_id": "00000000-0000-4000-8000-000000000000", "reason": REASON},
        headers=headers,
    )

    assert short.status_code == 422
    assert missing.status_code == 404
    assert _state(world, made)["requests"] == []


def test_pending_requests_are_listed_for_the_approver(deployment: Deployment) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    request = world.request_shred(made.id)

    listed = deployment.client.get("/api/v1/shred-requests", headers=world.second_admin.headers)

    assert listed.status_code == 200
    assert [(r["id"], r["status"], r["requested_by"]) for r in listed.json()] == [
        (request["id"], "pending", world.admin.username)
    ]
