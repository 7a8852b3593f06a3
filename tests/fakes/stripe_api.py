"""A fake Stripe API on 127.0.0.1 for the official `stripe` library (its base address pointed here).

It answers form-encoded POSTs the way Stripe documents them: `checkout.session` objects for
/v1/checkout/sessions (and GET by id), `refund` objects for /v1/refunds, and errors as
`{"error": {"type", "code", "message"}}`. It honours idempotency like Stripe: the same Idempotency-Key with the
same parameters replays the first answer; with other parameters it is a 400 `idempotency_error`. Every request
is recorded with its raw bytes (request line, headers, body) so tests can search them for private input.
`fail_next(status, type, code)` makes the next POST fail before anything is created; `sign(payload)` signs a
webhook body the way Stripe does (`t=…,v1=HMAC-SHA256(secret, "t.payload")`).

Refunds as Stripe keeps them: GET /v1/refunds?payment_intent=… lists them (newest first), GET /v1/refunds/<id>
answers one; `next_refund(status, failure_reason)` makes the next one answer pending, requires_action, failed or
canceled, `settle_refund(id, status, …)` is what Stripe does to it later; a second refund
of a fully refunded PaymentIntent under another key is a 400 `charge_already_refunded`. `forget_keys()` is
Stripe's 24 h idempotency window passing; `delay_next(seconds)` makes the next POST take effect at once but
answer only after `seconds` (a client killed in between never hears about what was made); `stall_next(seconds,
times)` holds the next POSTs that long and then drops them unanswered, nothing made (a Stripe that never answers).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from tests.fakes.loopback import LoopbackServer, QuietHandler

WEBHOOK_SECRET = "whsec_fake_test_secret"
SECRET_KEY = "sk_test_fake_key"


@dataclass
class StripeRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    raw: bytes  # request line + headers + body, exactly as received

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class StripeState:
    requests: list[StripeRequest] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    replays: dict[str, tuple[str, str, int, bytes]] = field(default_factory=dict)  # key → (path, body, status, answer)
    failures: list[tuple[int, str, str, bool]] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    stalls: list[float] = field(default_factory=list)
    refund_statuses: list[tuple[str, str]] = field(default_factory=list)  # (status, failure_reason) of the next
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def all_bytes(self) -> bytes:
        return b"\n".join(request.raw for request in self.requests)


def _error(status: int, kind: str, code: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": {"type": kind, "code": code, "message": message}}).encode()


class _Handler(QuietHandler):
    server: FakeStripe

    def _record(self, body: bytes) -> StripeRequest:
        head = f"{self.requestline}\r\n{self.headers}".encode()
        request = StripeRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                body, head + body)
        self.server.state.requests.append(request)
        return request

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", f"req_fake_{len(self.server.state.requests)}")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        state = self.server.state
        with state.lock:
            self._record(b"")
            if not self._authorised():
                return self._answer(*_error(401, "invalid_request_error", "api_key_invalid", "Invalid API Key"))
            path, _, query = self.path.partition("?")
            if path == "/v1/refunds":
                wanted = dict(parse_qsl(query)).get("payment_intent")
                found = [r for r in state.refunds.values() if wanted is None or r["payment_intent"] == wanted]
                listing = {"object": "list", "url": "/v1/refunds", "has_more": False,
                           "data": sorted(found, key=lambda r: r["id"], reverse=True)}
                return self._answer(200, json.dumps(listing).encode())
            if path.startswith("/v1/refunds/") and path.removeprefix("/v1/refunds/") in state.refunds:
                return self._answer(200, json.dumps(state.refunds[path.removeprefix("/v1/refunds/")]).encode())
            prefix = "/v1/checkout/sessions/"
            session = state.sessions.get(path.removeprefix(prefix)) if path.startswith(prefix) else None
        if session is None:
            return self._answer(*_error(404, "invalid_request_error", "resource_missing", "No such object"))
        self._answer(200, json.dumps(session).encode())

    def do_POST(self) -> None:
        state = self.server.state
        body = self.read_body()
        with state.lock:
            request = self._record(body)
            stall = state.stalls.pop(0) if state.stalls else 0.0
        if stall:
            time.sleep(stall)
            self.close_connection = True
            return
        with state.lock:
            if not self._authorised():
                return self._answer(*_error(401, "invalid_request_error", "api_key_invalid", "Invalid API Key"))
            key = request.idempotency_key
            if key and key in state.replays:
                path, first_body, status, answer = state.replays[key]
                if (path, first_body) != (self.path, body.decode()):
                    return self._answer(*_error(
                        400, "idempotency_error", "idempotency_key_in_use",
                        "Keys for idempotent requests can only be used with the same parameters"))
                return self._answer(status, answer)
            if state.failures:
                status, kind, code, saved = state.failures.pop(0)
                failure = _error(status, kind, code, "fake failure")
                if key and saved:
                    state.replays[key] = (self.path, body.decode(), *failure)
                return self._answer(*failure)
            status, answer = self._create(request)
            if key and status < 500:
                state.replays[key] = (self.path, body.decode(), status, answer)
            delay = state.delays.pop(0) if state.delays else 0.0
        if delay:
            time.sleep(delay)
        self._answer(status, answer)

    def _authorised(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {self.server.secret_key}"

    def _create(self, request: StripeRequest) -> tuple[int, bytes]:
        state, params, now = self.server.state, request.params, int(time.time())
        if self.path == "/v1/checkout/sessions":
            missing = [name for name in ("mode", "success_url", "line_items[0][price]") if not params.get(name)]
            if missing:
                return _error(400, "invalid_request_error", "parameter_missing", f"Missing {missing[0]}")
            expires = params.get("expires_at")
            if expires and not now + 1800 <= int(expires) <= now + 86400:  # Stripe: 30 minutes to 24 hours
                return _error(400, "invalid_request_error", "parameter_invalid_integer",
                              "expires_at must be between 30 minutes and 24 hours from now")
            number = next(state.ids)
            session_id = f"cs_test_fake{number:06d}"
            session = {
                "id": session_id, "object": "checkout.session", "mode": params["mode"], "status": "open",
                "payment_status": "unpaid", "client_reference_id": params.get("client_reference_id"),
                "url": f"https://checkout.stripe.test/c/pay/{session_id}", "success_url": params["success_url"],
                "cancel_url": params.get("cancel_url"), "amount_total": 2900, "currency": "eur",
                "customer_email": params.get("customer_email"), "payment_intent": None,
                "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
                "created": now, "livemode": False,
                "expires_at": int(params.get("expires_at") or now + 86400),
            }
            state.sessions[session_id] = session
            return 200, json.dumps(session).encode()
        if self.path == "/v1/refunds":
            if not params.get("payment_intent") and not params.get("charge"):
                return _error(400, "invalid_request_error", "parameter_missing", "Missing payment_intent")
            if any(r["payment_intent"] == params.get("payment_intent")
                   and r["status"] in ("succeeded", "pending", "requires_action") for r in state.refunds.values()):
                return _error(400, "invalid_request_error", "charge_already_refunded",
                              "Charge has already been refunded.")
            refund_id = f"re_fake{next(state.ids):06d}"
            status, failure = state.refund_statuses.pop(0) if state.refund_statuses else ("succeeded", "")
            refund = {
                "id": refund_id, "object": "refund", "amount": 2900, "currency": "eur", "status": status,
                "failure_reason": failure or None,
                "payment_intent": params.get("payment_intent"), "reason": params.get("reason"),
                "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
                "created": now,
            }
            state.refunds[refund_id] = refund
            return 200, json.dumps(refund).encode()
        return _error(404, "invalid_request_error", "resource_missing", f"Unrecognized request URL ({self.path})")


class FakeStripe(LoopbackServer):
    def __init__(self, secret_key: str = SECRET_KEY, webhook_secret: str = WEBHOOK_SECRET) -> None:
        super().__init__(_Handler)
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.state = StripeState()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, status: int, kind: str = "api_error", code: str = "", *, saved: bool = False) -> None:
        """The next POST fails. `saved`: as Stripe does once the endpoint began (a card_error, a 500), the failure
        is kept under the request's Idempotency-Key and answered again to every later request with that key."""
        self.state.failures.append((status, kind, code, saved))

    def delay_next(self, seconds: float) -> None:
        self.state.delays.append(seconds)

    def stall_next(self, seconds: float, times: int = 1) -> None:
        self.state.stalls.extend([seconds] * times)

    def next_refund(self, status: str, failure_reason: str = "") -> None:
        """The next refund made answers `status` (pending, requires_action, failed, canceled) at once."""
        self.state.refund_statuses.append((status, failure_reason))

    def settle_refund(self, refund_id: str, status: str, failure_reason: str = "") -> None:
        """What Stripe does to a pending refund later: it succeeds, or fails (money back to the balance)."""
        with self.state.lock:
            self.state.refunds[refund_id].update(status=status, failure_reason=failure_reason or None)

    def forget_keys(self) -> None:
        """Stripe keeps idempotency keys for 24 hours: after that a key is new again."""
        with self.state.lock:
            self.state.replays.clear()

    def post_count(self, path: str) -> int:
        return sum(1 for r in self.state.requests if r.method == "POST" and r.path == path)

    def event(self, kind: str, obj: dict, *, event_id: str | None = None) -> bytes:
        """A webhook body shaped like a Stripe Event wrapping `obj`."""
        number = next(self.state.ids)
        return json.dumps({
            "id": event_id or f"evt_fake{number:06d}", "object": "event", "api_version": "2025-01-27.acacia",
            "created": int(time.time()), "type": kind, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "data": {"object": obj},
        }).encode()

    def sign(self, payload: bytes, *, at: int | None = None, secret: str | None = None) -> str:
        """A Stripe-Signature header for `payload`, as Stripe computes it."""
        timestamp = int(time.time()) if at is None else at
        signed = f"{timestamp}.".encode() + payload
        digest = hmac.new((secret or self.webhook_secret).encode(), signed, hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={digest}"
