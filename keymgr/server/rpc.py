"""The one wrapper every servicer method goes through: domain errors become statuses.

Anything unexpected becomes INTERNAL with a reference id; the traceback goes to the
node's log only, never to the caller.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from keymgr.server.errors import NodeError, status_for

log = logging.getLogger(__name__)

S = TypeVar("S")
Req = TypeVar("Req")
Resp = TypeVar("Resp")

Handler = Callable[[S, Req, grpc.aio.ServicerContext], Awaitable[Resp]]


def rpc(method: Handler[S, Req, Resp]) -> Handler[S, Req, Resp]:
    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await method(self, request, context)
        except NodeError as exc:
            code, message = status_for(exc)
            await context.abort(code, message)
        except (grpc.aio.AbortError, grpc.RpcError):
            raise
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("internal error in %s (ref=%s)", method.__name__, ref)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error (ref={ref})")
        raise AssertionError("unreachable")  # abort() always raises

    return wrapper


def any_request(value: Any) -> Any:
    """Marks generated-code types, which mypy cannot see, at the boundary."""
    return value
