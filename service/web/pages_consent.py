"""The officer's consent form on a testimony page: a witness gives or withdraws a scope.

A withdrawal recorded here stops every later export under that scope at once; the rule
lives in ``TestimonyService.change_consent`` and ``consent_covers``, not in this page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.responses import Response

from service.testimony.schemas import ConsentChange
from service.testimony.service import TestimonyService
from service.web import security
from service.web.forms import parse_model
from service.web.render import SignedInFormDep, WebRoute

router = APIRouter(route_class=WebRoute)
Short = Annotated[str, Form(max_length=40)]


@router.post("/testimonies/{testimony_id}/consent")
def change_consent(
    web: SignedInFormDep,
    testimony_id: str,
    scope: Short = "",
    kind: Short = "",
    effective_on: Short = "",
) -> Response:
    change, errors = parse_model(
        ConsentChange, {"scope": scope, "kind": kind, "effective_on": effective_on}, web.gettext
    )
    if change is None:
        # In the page's language, so shown as the explanation, not as the English detail.
        return web.page(
            "error.html",
            status=422,
            title=web.gettext("The consent change was not recorded."),
            explanation="; ".join(errors),
        )
    web.run(lambda s: TestimonyService(s).change_consent(testimony_id, change))
    return web.redirect(f"{security.PREFIX}/testimonies/{testimony_id}#consent")
