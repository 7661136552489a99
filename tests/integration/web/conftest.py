"""Web-page test helpers: a browser-like client that signs in and sends CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from service.app import create_app
from tests.factories import Account, Deployment

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


class Browser:
    """One browser: its own cookie jar over the deployment's app."""

    def __init__(self, deployment: Deployment, base_url: str = "http://testserver") -> None:
        self.client = TestClient(
            create_app(deployment.settings, deployment.runtime),
            raise_server_exceptions=False,
            base_url=base_url,
        )

    def get(self, path: str, **kw: Any) -> Response:
        return self.client.get(path, follow_redirects=False, **kw)

    def csrf(self, path: str = "/web/signin") -> str:
        page = self.get(path)
        match = _CSRF.search(page.text)
        assert match, f"no CSRF token on {path}: {page.status_code}"
        return match.group(1)

    def post(self, path: str, data: dict[str, Any], *, token_from: str = "/web/") -> Response:
        """Posts a form the way a browser does: with the token its page carried."""
        form = {"csrf_token": self.csrf(token_from), **data}
        return self.client.post(path, data=form, follow_redirects=False)

    def sign_in(self, account: Account) -> Response:
        return self.post(
            "/web/signin",
            {"username": account.username, "password": account.password},
            token_from="/web/signin",
        )


@pytest.fixture
def web_deployment(database_url: str, tmp_path: Path) -> Iterator[Deployment]:
    deployment = Deployment.create(tmp_path / "data", database_url)
    try:
        yield deployment
    finally:
        deployment.close()


@pytest.fixture
def browser(web_deployment: Deployment) -> Iterator[Browser]:
    b = Browser(web_deployment)
    yield b
    b.client.close()
