"""FastAPI dependencies: the runtime, the request context and the authenticated caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.access.auth import AuthService
from service.context import Channel, Principal, RequestContext
from service.errors import AuthenticationError
from service.runtime import Runtime, Scope

T = TypeVar("T")
_bearer = HTTPBearer(auto_error=False, description="Token from POST /api/v1/auth/login")


def get_runtime(request: Request) -> Runtime:
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


def get_request_context(request: Request) -> RequestContext:
    client = request.client.host if request.client else None
    return RequestContext(channel=Channel.API, client_address=client)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ContextDep = Annotated[RequestContext, Depends(get_request_context)]


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of a request, ready to run domain work as them."""

    runtime: Runtime
    context: RequestContext
    principal: Principal | None

    def run(self, work: Callable[[Scope], T]) -> T:
        return self.runtime.run(self.context, self.principal, work)


def get_principal(
    runtime: RuntimeDep,
    context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("Send 'Authorization: Bearer <token>'; sign in to get one.")
    token = credentials.credentials
    return runtime.run(context, None, lambda scope: AuthService(scope).authenticate(token))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_caller(runtime: RuntimeDep, context: ContextDep, principal: PrincipalDep) -> Caller:
    return Caller(runtime, context, principal)


def get_anonymous_caller(runtime: RuntimeDep, context: ContextDep) -> Caller:
    return Caller(runtime, context, None)


CallerDep = Annotated[Caller, Depends(get_caller)]
AnonymousCallerDep = Annotated[Caller, Depends(get_anonymous_caller)]
