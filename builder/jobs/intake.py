"""The payment-safe intake: `POST /v1/orders`, `POST /v1/orders/validate`, `POST /v1/drafts`, `POST /v1/checkout`
and `GET /healthz`, a Starlette app served by uvicorn.

Answers (DESIGN §6): 202 {ref} once the order is committed (fsync'ed, or the database transaction); nothing
else runs in the request path: a dispatcher cycle (GIFT_QUEUE=github, builder/jobs/pool.py) runs after the answer is
sent, and what it cannot do waits for reconcile's. A replay of the key: 202 with the same ref;
the key with another body: 409; bad or stale signature: 401; invalid order: 422 with field errors;
body over 10 MB: 413, enforced while streaming. Only 202 records anything.

`/v1/orders/validate` takes the same signed body and records nothing: 200 {ok, errors, findings} with the
order model's field errors, or the public-field guard's findings ({field, category, message}: "the message
contains a phone number"), so a checkout form can say so before payment; 401 and 413 as above.

`/v1/drafts` takes the same signed body, runs the same checks, and stores an order that passes them only as its
sealed envelope, with an expiry (GIFT_DRAFT_TTL_S, default 24 h): 201 {draft_id, expires_at}, or 422 with the
checks' {ok: false, errors, findings} and nothing stored (builder/jobs/drafts.py).

`/v1/checkout` takes a signed {"draft_id": "drf_…"} and answers 201 {url, session_id}: the draft's one Stripe
Checkout Session (builder/jobs/checkout.py: the same session every time, expiring with the draft); 404 unknown
draft, 410 expired, 409 paid already (an order now), 503 when GIFT_STRIPE_* are missing (it names them), 502
with Stripe's one-line error. The StripeClient is built once per app.

`/v1/stripe/webhook` takes Stripe's events, verified by their Stripe-Signature (GIFT_STRIPE_WEBHOOK_SECRET,
Stripe's own `Webhook.construct_event`; bad or stale: 400, nothing recorded): a paid session's draft becomes
its order in one ledger step keyed by the session (`Ledger.accept_paid`), an expired or failed one's draft is
deleted, anything else is acknowledged (builder/jobs/stripe_webhook.py). 200 once recorded; the dispatcher
cycle, or the refund of a session paid after its draft expired, runs after the answer; a ledger that cannot
record it (unreachable, read-only, or no answer within LEDGER_DEADLINE_S) is 503, and Stripe delivers again.
Idempotency keys: an order from Stripe is keyed by its Checkout Session alone; on `/v1/orders` the
Idempotency-Key header or the body's `idempotency_key` (both given and different: 422).

Slow clients are cut off: a connection whose request headers are not complete within
`intake_header_timeout_s` (GIFT_INTAKE_HEADER_TIMEOUT_S, default 10 s) of its start is closed, and a body
not complete within `intake_body_timeout_s` (GIFT_INTAKE_BODY_TIMEOUT_S, default 60 s) after its headers gets
408 and the connection closed, so a slowloris holds a connection for at most the sum of the two. A client
that goes away mid-body is one INFO line, never an ERROR traceback.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from builder.errors import (
    AddressInUse,
    BodyTooLarge,
    BodyTooSlow,
    JobError,
    OrderError,
    PaymentError,
    SignatureError,
    describe_os_error,
)
from builder.jobs.accept import IdempotencyConflict, OrderParser, accept_order
from builder.jobs.checkout import CheckoutAnswer, checkout_draft, open_session
from builder.jobs.drafts import store_draft
from builder.jobs.envelope import Envelope
from builder.jobs.ledger import Ledger, is_draft_id
from builder.jobs.pool import GitHubRuns, dispatch_cycle
from builder.jobs.refunds import refund_order
from builder.jobs.settings import JobSettings
from builder.jobs.signature import HEADER, verify
from builder.jobs.states import DRAFT_EXPIRED
from builder.jobs.stripe_checkout import stripe_client, verify_event
from builder.jobs.stripe_webhook import WebhookOutcome, handle_event
from builder.settings import StripeSettings

log = logging.getLogger("giftboard.jobs.intake")
MAX_BODY = 10 * 1024 * 1024
# how long any request's ledger step (an order, a draft, checkout's reads, the webhook) may take before a 503 (a
# stopped PostgreSQL: the ledger's own retries take 45 s). Stripe does not publish how long it waits; a buyer is
# waiting on checkout
LEDGER_DEADLINE_S = 10.0
OrderPrecheck = Callable[[bytes], dict[str, Any]]


def default_precheck() -> OrderPrecheck:
    """The gift pipeline's order model and public-field guard (imported when first needed, like the parser)."""
    from builder.gifts.precheck import precheck

    return lambda body: precheck(body).as_json()


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def _read_limited(request: Request, limit: int, timeout_s: float) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):  # the whole body, not per chunk: 1 byte/s never resets it
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise BodyTooLarge  # stop reading: never buffer more than the limit
    except TimeoutError:
        raise BodyTooSlow from None
    return bytes(body)


def _ledger_error(error: Exception) -> str:
    """One line for the operator: an OSError's path and cause (a read-only or full ledger disk), else the class."""
    return describe_os_error(error) if isinstance(error, OSError) else type(error).__name__


def _draft_id_of(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        return None
    draft_id = data.get("draft_id") if isinstance(data, dict) else None
    return draft_id if isinstance(draft_id, str) and is_draft_id(draft_id) else None


async def _within(deadline_s: float, work: Callable[[], Any]) -> Any:
    """`work` in the thread pool, its answer awaited at most `deadline_s` (TimeoutError after that). Work that
    overruns is left to finish on its own (a ledger step is idempotent: Stripe's next delivery finds it), and its
    outcome, error included, is dropped without a log line."""
    task = asyncio.ensure_future(run_in_threadpool(work))
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return await asyncio.wait_for(asyncio.shield(task), deadline_s)


def create_app(
    ledger: Ledger,
    envelope: Envelope,
    settings: JobSettings,
    *,
    parse: OrderParser | None = None,
    runs: GitHubRuns | None = None,
    max_body: int = MAX_BODY,
    precheck: OrderPrecheck | None = None,
    stripe: StripeSettings | None = None,
    ledger_deadline_s: float = LEDGER_DEADLINE_S,
) -> Starlette:
    stripe_settings = stripe or StripeSettings()
    client = stripe_client(stripe_settings) if stripe_settings.secret_key else None  # one per app

    def accept(body: bytes, key: str | None) -> tuple[str, bool]:
        return accept_order(body, key, ledger=ledger, envelope=envelope, parse=parse)

    def _dispatch(ref: str) -> None:
        """After the answer was sent: one dispatcher cycle (runs by queue depth); whatever it cannot do now
        (blocked, rate limited, another intake dispatching) the next cycle or reconcile does."""
        if runs is None:
            return
        try:
            dispatch_cycle(ledger, runs, settings)
        except JobError as error:
            log.warning("%s: recorded; the dispatcher did not run (%s); reconcile will", ref, type(error).__name__)

    async def read_body(request: Request) -> bytes | Response:
        """The whole body, or the answer for a body that is too large, too slow or abandoned."""
        try:
            return await _read_limited(request, max_body, settings.intake_body_timeout_s)
        except BodyTooLarge:
            return _error(413, f"body larger than {max_body} bytes")
        except BodyTooSlow:
            log.info("request body not complete after %.0f s: answered 408, connection closed",
                     settings.intake_body_timeout_s)
            response = _error(408, f"request body not complete within {settings.intake_body_timeout_s:g} s")
            response.headers["Connection"] = "close"
            return response
        except ClientDisconnect:
            log.info("client disconnected before its request body was complete; nothing recorded")
            return Response(status_code=400)  # nobody is left to read it

    async def signed_body(request: Request) -> bytes | Response:
        """The whole body if its Giftboard-Signature is valid and recent; else the answer (401, 408, 413)."""
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        try:
            verify(settings.webhook_secret, request.headers.get(HEADER), body)
        except SignatureError as error:
            return _error(401, str(error))
        return body

    async def post_order(request: Request) -> Response:
        body = await signed_body(request)
        if isinstance(body, Response):
            return body
        key = request.headers.get("idempotency-key")
        try:
            ref, created = await _within(ledger_deadline_s, lambda: accept(body, key))
        except TimeoutError:  # the order may still be committed: the payment system's retry, same key, finds it
            log.error("ledger did not answer an order within %g s: answered 503", ledger_deadline_s)
            return _error(503, "ledger unavailable, retry later")
        except OrderError as error:
            return _error(422, "invalid order", errors=error.field_errors)
        except IdempotencyConflict as error:
            return _error(409, str(error))
        except JobError as error:
            log.error("ledger unavailable: %s", error)
            return _error(503, "ledger unavailable, retry later")
        except OSError as error:  # a full or read-only ledger disk: the client retries, the operator is told
            log.error("ledger storage unavailable: %s", describe_os_error(error))
            return _error(503, "ledger unavailable, retry later")
        headers = {} if created else {"Idempotent-Replayed": "true"}
        after = BackgroundTask(run_in_threadpool, _dispatch, ref) if created and runs is not None else None
        return JSONResponse({"ref": ref}, status_code=202, headers=headers, background=after)

    async def validate_order(request: Request) -> Response:
        body = await signed_body(request)
        if isinstance(body, Response):
            return body
        result = await run_in_threadpool(precheck or default_precheck(), body)
        return JSONResponse(result, status_code=200)

    async def post_draft(request: Request) -> Response:
        """A checked order awaiting payment: the same checks as /v1/orders/validate; only its sealed envelope is
        stored. 201 {draft_id, expires_at}; 422 {ok: false, errors, findings} and nothing stored."""
        body = await signed_body(request)
        if isinstance(body, Response):
            return body
        checked = await run_in_threadpool(precheck or default_precheck(), body)  # no ledger: no deadline
        if not checked.get("ok"):
            return JSONResponse(checked, status_code=422)
        now = time.time()
        try:
            answer = await _within(ledger_deadline_s, lambda: store_draft(
                body, ledger=ledger, envelope=envelope, ttl_s=settings.draft_ttl_s, now=now))
        except TimeoutError:  # a draft saved after this answer is never paid: reconcile sweeps it once it expires
            log.error("ledger did not answer a draft within %g s: answered 503", ledger_deadline_s)
            return _error(503, "ledger unavailable, retry later")
        except (JobError, OSError) as error:
            log.error("ledger unavailable for a draft: %s", _ledger_error(error))
            return _error(503, "ledger unavailable, retry later")
        return JSONResponse(answer, status_code=201)

    async def post_checkout(request: Request) -> Response:
        """A draft's Stripe Checkout Session (the same one every time): 201 {url, session_id}; 404 unknown draft,
        410 expired, 409 paid already, 422 no draft id, 502 Stripe refused, 503 Stripe not configured."""
        body = await signed_body(request)
        if isinstance(body, Response):
            return body
        missing = stripe_settings.missing_for_checkout()
        if missing or client is None:
            return _error(503, f"Stripe Checkout is not configured: {', '.join(missing)} not set")
        draft_id = _draft_id_of(body)
        if draft_id is None:
            return _error(422, "the body must be JSON {\"draft_id\": \"drf_…\"}")
        try:
            found = await _within(ledger_deadline_s, lambda: checkout_draft(ledger, draft_id, time.time()))
            if isinstance(found, CheckoutAnswer):
                return JSONResponse(found.body, status_code=found.status)
            answer = await run_in_threadpool(open_session, client, stripe_settings, found, envelope)
        except TimeoutError:
            log.error("ledger did not answer a checkout within %g s: answered 503", ledger_deadline_s)
            return _error(503, "ledger unavailable, retry later")
        except PaymentError as error:
            log.warning("checkout for %s: %s", draft_id, error)
            return _error(502, str(error))
        except (JobError, OSError) as error:
            log.error("ledger unavailable for a checkout: %s", _ledger_error(error))
            return _error(503, "ledger unavailable, retry later")
        return JSONResponse(answer.body, status_code=answer.status)

    def _refund_draft_expired(ref: str) -> None:
        """After the answer: the refund of an order paid after its draft expired (the refunds module's
        `refund_order`: once per order, whatever happens). What cannot be done now, `gift reconcile` does."""
        if client is None:
            log.warning("%s: paid after its draft expired; GIFT_STRIPE_SECRET_KEY is not set, gift reconcile "
                        "refunds it once it is", ref)
            return
        try:
            outcome = refund_order(ledger, client, ref, reason=DRAFT_EXPIRED, settings=settings)
        except (JobError, OSError) as error:
            log.warning("%s: refund not started now (%s); gift reconcile refunds it", ref, type(error).__name__)
            return
        log.info("%s: refund %s", ref, outcome.refund_id or f"failed ({outcome.error}); gift reconcile retries it")

    def _after_event(outcome: WebhookOutcome) -> None:
        if outcome.created:
            _dispatch(outcome.ref)
        if outcome.refund:
            _refund_draft_expired(outcome.ref)

    async def stripe_webhook(request: Request) -> Response:
        """A Stripe event, verified by its Stripe-Signature (400 and nothing recorded when bad or stale): 200 once
        applied (builder/jobs/stripe_webhook.py); dispatch and refunds run after the answer. 503 when the ledger
        cannot record it (Stripe delivers again) or GIFT_STRIPE_WEBHOOK_SECRET is not set."""
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        missing = stripe_settings.missing_for_webhook()
        if missing:
            return _error(503, f"Stripe webhooks are not configured: {', '.join(missing)} not set")
        try:
            event = verify_event(body, request.headers.get("stripe-signature"), stripe_settings)
        except SignatureError as error:
            return _error(400, str(error))
        try:
            outcome = await _within(ledger_deadline_s, lambda: handle_event(
                event, ledger=ledger, envelope=envelope, livemode=stripe_settings.key_livemode))
        except TimeoutError:
            log.error("stripe event %s: the ledger did not answer within %g s; answered 503, Stripe delivers it "
                      "again", event.id, ledger_deadline_s)
            return _error(503, "ledger unavailable, retry later")
        except IdempotencyConflict:  # permanent: a 4xx would have Stripe deliver it again for three days
            log.error("stripe event %s: not recorded: an order posted to POST /v1/orders holds its checkout "
                      "session's key (Idempotency-Key stripe:<session id>); that order stands, the event is "
                      "acknowledged", event.id)
            return JSONResponse({"received": True, "recorded": False}, status_code=200)
        except (JobError, OSError) as error:
            log.error("stripe event %s: ledger unavailable (%s); Stripe delivers it again", event.id,
                      _ledger_error(error))
            return _error(503, "ledger unavailable, retry later")
        log.log(logging.WARNING if outcome.warning else logging.INFO, "%s", outcome.line)
        after = BackgroundTask(run_in_threadpool, _after_event, outcome) if outcome.created or outcome.refund else None
        return JSONResponse({"received": True}, status_code=200, background=after)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "queue": settings.queue})

    return Starlette(
        routes=[
            Route("/v1/orders", post_order, methods=["POST"]),
            Route("/v1/orders/validate", validate_order, methods=["POST"]),
            Route("/v1/drafts", post_draft, methods=["POST"]),
            Route("/v1/checkout", post_checkout, methods=["POST"]),
            Route("/v1/stripe/webhook", stripe_webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted connections when the listening
    # socket says so, and without it every answer waits ~40 ms on Nagle + delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise AddressInUse(host, port, f"--port {port + 1}") from None
        raise
    # listen now, not when uvicorn starts: "intake listening on …" is printed right after this, and a client that
    # connects at once must be queued, not refused (uvicorn's own listen() later only sets the same backlog)
    sock.listen(2048)
    return sock


class _HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus a deadline for each request's headers (uvicorn has none: a client
    sending one header byte a second would hold its connection forever)."""

    header_timeout_s = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm_header_deadline()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        log.info("request headers not complete after %.0f s: connection closed", self.header_timeout_s)
        self.transport.close()


def make_server(app: Starlette, *, log_level: str = "warning", header_timeout_s: float = 10.0) -> uvicorn.Server:
    protocol = type("HeaderDeadlineProtocol", (_HeaderDeadlineProtocol,), {"header_timeout_s": header_timeout_s})
    config = uvicorn.Config(app, log_level=log_level, access_log=False, server_header=False,
                            timeout_graceful_shutdown=5, http=protocol)
    return uvicorn.Server(config)


def serve(app: Starlette, host: str, port: int, on_ready: Callable[[str], None] | None = None, *,
          header_timeout_s: float = 10.0) -> None:
    """Bind first (so port 0 can be reported), then serve until interrupted."""
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    if on_ready is not None:
        on_ready(f"http://{bound_host}:{bound_port}")
    make_server(app, log_level="info", header_timeout_s=header_timeout_s).run(sockets=[sock])
