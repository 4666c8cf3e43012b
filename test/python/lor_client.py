"""What a Python service needs to call Ledger of Record: a channel, the
generated stubs, call metadata, and the decoding of rich error details.

Stubs come from proto/ via protoc (see test/python/python-client.test.ts).
The vendored gRPC and google.rpc protos are generated under the Python
package ``lor_vendor`` so that their top-level ``grpc`` package does not
shadow the real ``grpc`` library; their proto packages (and so the service
names on the wire) are unchanged.
"""

import os
import uuid

import grpc

from aevon.audit.v1 import audit_pb2_grpc
from aevon.identity.v1 import identity_pb2_grpc
from aevon.ledger.v1 import ledger_pb2_grpc
from aevon.type.v1 import error_reason_pb2
from lor_vendor.google.rpc import error_details_pb2, status_pb2
from lor_vendor.grpc.health.v1 import health_pb2_grpc
from lor_vendor.grpc.reflection.v1 import reflection_pb2_grpc

ADDRESS_ENV = "LOR_GRPC_ADDRESS"
"""Environment variable holding the service's gRPC address, e.g. 127.0.0.1:50051."""

CALL_TIMEOUT_S = 15.0
"""Deadline of every call: a hung server fails the suite instead of stalling it."""

ACTOR = "python-contract-test"
"""Sent as ``x-actor``; the audit log records it as ``on_behalf_of`` on every event we cause (the actor is the caller's principal)."""

ERROR_DOMAIN = "ledger-of-record.aevon"
"""google.rpc.ErrorInfo.domain of every error the service raises."""

STATUS_DETAILS_KEY = "grpc-status-details-bin"

# Every ErrorInfo.reason decode_error() has seen, so a test can report them.
seen_reasons = set()


def address():
    value = os.environ.get(ADDRESS_ENV, "")
    if not value:
        raise RuntimeError(f"{ADDRESS_ENV} is not set (host:port of the service's gRPC port)")
    return value


class Stubs:
    """One channel and a stub per service."""

    def __init__(self, target):
        self.channel = grpc.insecure_channel(target)
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(self.channel)
        self.identity = identity_pb2_grpc.IdentityServiceStub(self.channel)
        self.audit = audit_pb2_grpc.AuditServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.reflection = reflection_pb2_grpc.ServerReflectionStub(self.channel)

    def close(self):
        self.channel.close()


def call_metadata(request_id=None):
    """``x-actor`` and ``x-request-id`` metadata; returns (metadata, request_id)."""
    request_id = request_id or f"py-{uuid.uuid4()}"
    return (("x-actor", ACTOR), ("x-request-id", request_id)), request_id


def call(method, request, request_id=None):
    """Calls a unary method with a deadline and our metadata; returns the reply."""
    metadata, _ = call_metadata(request_id)
    return method(request, timeout=CALL_TIMEOUT_S, metadata=metadata)


def new_key(purpose):
    """A fresh idempotency key (printable ASCII, no '#', well under 128 characters)."""
    return f"py-{purpose}-{uuid.uuid4()}"


def new_handle():
    """A fresh handle matching ^[a-z][a-z0-9_]{2,29}$."""
    return f"py_{uuid.uuid4().hex[:16]}"


class DecodedError:
    """A failed call as a client sees it: code, message and the details."""

    def __init__(self, code, message, status, error_info, bad_request):
        self.code = code
        self.message = message
        self.status = status
        self.error_info = error_info
        self.bad_request = bad_request

    @property
    def reason(self):
        return self.error_info.reason if self.error_info is not None else None

    def __repr__(self):
        return f"DecodedError({self.code.name}, {self.message!r}, reason={self.reason!r})"


def reason_enum(reason):
    """Maps ErrorInfo.reason onto aevon.type.v1.ErrorReason ("ERROR_REASON_" + reason).

    Raises AssertionError when the enum has no such value (or it is
    ERROR_REASON_UNSPECIFIED, which is never sent): the service sent a reason
    its contract does not declare.
    """
    name = "ERROR_REASON_" + reason
    value = error_reason_pb2.ErrorReason.Value(name) if name in error_reason_pb2.ErrorReason.keys() else 0
    if value == error_reason_pb2.ERROR_REASON_UNSPECIFIED:
        raise AssertionError(f"ErrorInfo.reason {reason!r} is not a value of aevon.type.v1.ErrorReason (no {name})")
    return value


def decode_error(error):
    """Decodes a grpc.RpcError's ``grpc-status-details-bin`` trailer into
    google.rpc.Status, ErrorInfo and BadRequest, and checks the Status agrees
    with the call's own code and message."""
    raw = None
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY:
            raw = value
    status = status_pb2.Status.FromString(raw) if raw is not None else None
    error_info = None
    bad_request = None
    if status is not None:
        if status.code != error.code().value[0] or status.message != error.details():
            raise AssertionError(
                f"google.rpc.Status ({status.code}, {status.message!r}) disagrees with the call's "
                f"status ({error.code().value[0]}, {error.details()!r})"
            )
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                error_info = error_details_pb2.ErrorInfo()
                detail.Unpack(error_info)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
    if error_info is not None:
        reason_enum(error_info.reason)
        seen_reasons.add(error_info.reason)
    return DecodedError(error.code(), error.details(), status, error_info, bad_request)


def failure(method, request, request_id=None):
    """Calls a unary method that must fail; returns its DecodedError."""
    try:
        reply = call(method, request, request_id)
    except grpc.RpcError as error:
        return decode_error(error)
    raise AssertionError(f"expected the call to fail, it returned {reply}")
