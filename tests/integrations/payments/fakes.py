"""Local stand-ins for Paystack and Stripe: real HTTP servers on 127.0.0.1 that speak each
provider's request and response shapes, check the secret key, keep state (transactions,
Checkout Sessions, PaymentIntents, refunds, idempotency keys) and sign webhooks with the
providers' real algorithms, written here independently of the adapters.

Use them from any test package:

    from tests.integrations.payments.fakes import fake_paystack, fake_stripe  # fixtures

    def test_x(fake_stripe, settings):
        settings = settings.model_copy(
            update={"payments": fake_stripe.configure(settings.payments)}
        )
        ... initialize through the app, then:
        body, headers = fake_stripe.pay(reference)   # the buyer pays; a signed event
        client.post("/support/v1/payments/webhooks/stripe", content=body, headers=headers)

or, outside pytest fixtures, `with FakePaystack() as fake: ...`.
Failure injection: `fake.fail_next(503)`, `fake.hang_next(seconds)`. Every request the
fake received is in `fake.requests`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from pydantic import SecretStr

from admitone.settings import PaymentSettings

Response = tuple[int, dict[str, Any]]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class _Fault:
    status: int | None = None
    hang_seconds: float = 0.0
    body: bytes | None = None


class FakeProvider:
    """An HTTP server in a thread; subclasses implement `route`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes; without this, Nagle + delayed ACK add ~40 ms.
            disable_nagle_algorithm = True

            def _any(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_DELETE = do_PUT = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and hung up is part of the tests

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- failure injection ---------------------------------------------------------------

    def fail_next(self, status: int = 500, times: int = 1, body: bytes | None = None) -> None:
        """The next `times` requests answer `status` (with `body`, default a JSON error)."""
        with self._lock:
            self._faults.extend(_Fault(status=status, body=body) for _ in range(times))

    def hang_next(self, seconds: float, times: int = 1) -> None:
        """The next `times` requests wait `seconds` before answering (for client timeouts)."""
        with self._lock:
            self._faults.extend(_Fault(hang_seconds=seconds) for _ in range(times))

    # -- plumbing ------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        split = urlsplit(handler.path)
        recorded = Recorded(
            method=handler.command,
            path=unquote(split.path),
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(recorded)
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None and fault.hang_seconds:
            self._released.wait(fault.hang_seconds)
        if fault is not None and fault.status is not None:
            payload = fault.body if fault.body is not None else b'{"error":"injected"}'
            self._write(handler, fault.status, payload)
            return
        with self._lock:
            status, answer = self.route(recorded)
        self._write(handler, status, json.dumps(answer).encode())

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, status: int, payload: bytes) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route(self, req: Recorded) -> Response:
        raise NotImplementedError


# --- Paystack ----------------------------------------------------------------------------

_PAYSTACK_REFERENCE = re.compile(r"^[A-Za-z0-9.=-]+$")
_PAYSTACK_CURRENCIES = {"NGN", "GHS", "ZAR", "KES", "USD", "XOF", "EGP"}


def paystack_signature(body: bytes, secret_key: str) -> str:
    """What Paystack puts in `x-paystack-signature`: hex HMAC-SHA512 of the raw body."""
    return hmac.new(secret_key.encode(), body, hashlib.sha512).hexdigest()


class FakePaystack(FakeProvider):
    def __init__(self, secret_key: str = "sk_test_fake_paystack_0123456789") -> None:
        super().__init__()
        self.secret_key = secret_key
        self.transactions: dict[str, dict[str, Any]] = {}  # by Paystack reference
        self.refunds: list[dict[str, Any]] = []
        self._ids = itertools.count(4_099_260_000)

    def configure(self, payments: PaymentSettings) -> PaymentSettings:
        return payments.model_copy(
            update={
                "providers": sorted({*payments.providers, "paystack"}),
                "paystack_base_url": self.url,
                "paystack_secret_key": SecretStr(self.secret_key),
            }
        )

    # -- what a buyer or Paystack's back office does -------------------------------------

    def pay(self, reference: str, status: str = "success") -> tuple[bytes, dict[str, str]]:
        """The buyer completes checkout: the transaction becomes `status` and the signed
        `charge.success` webhook Paystack would POST is returned."""
        with self._lock:
            txn = self._transaction(reference)
            txn["status"] = status
            txn["gateway_response"] = "Successful" if status == "success" else "Declined"
            txn["paid_at"] = _iso_now()
            return self.webhook("charge.success", dict(txn))

    def process_refund(
        self, refund_id: int, status: str = "processed", amount_as_string: bool = False
    ) -> tuple[bytes, dict[str, str]]:
        """Paystack finishes a refund; returns the signed `refund.<status>` webhook."""
        with self._lock:
            refund = next(r for r in self.refunds if r["id"] == refund_id)
            refund["status"] = status
            data = {
                "status": status,
                "transaction_reference": refund["transaction"]["reference"],
                "refund_reference": None,
                "amount": str(refund["amount"]) if amount_as_string else refund["amount"],
                "currency": refund["currency"],
                "processor": "mpgs_zen",
                "customer": {"email": refund["transaction"]["customer"]["email"]},
                "integration": 412829,
                "domain": "test",
                "id": refund["id"],
            }
            return self.webhook(f"refund.{status}", data)

    def webhook(
        self, event: str, data: dict[str, Any], secret_key: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"event": event, "data": data}).encode()
        return body, self.sign(body, secret_key)

    def sign(self, body: bytes, secret_key: str | None = None) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "x-paystack-signature": paystack_signature(body, secret_key or self.secret_key),
        }

    # -- the API -----------------------------------------------------------------------

    def route(self, req: Recorded) -> Response:
        if req.headers.get("authorization") != f"Bearer {self.secret_key}":
            return 401, {"status": False, "message": "Invalid key"}
        if req.method == "POST" and req.path == "/transaction/initialize":
            return self._initialize(req.json())
        if req.method == "GET" and req.path.startswith("/transaction/verify/"):
            txn = self.transactions.get(req.path.removeprefix("/transaction/verify/"))
            if txn is None:
                return 400, {"status": False, "message": "Transaction reference not found"}
            return 200, {"status": True, "message": "Verification successful", "data": txn}
        if req.method == "POST" and req.path == "/refund":
            return self._refund(req.json())
        if req.method == "GET" and req.path == "/refund":
            ref = req.query.get("reference")
            items = [r for r in self.refunds if ref is None or r["transaction"]["reference"] == ref]
            return 200, {
                "status": True,
                "message": "Refunds retrieved",
                "data": items,
                "meta": {"total": len(items), "perPage": 50, "page": 1},
            }
        return 404, {"status": False, "message": "Route not found"}

    def _initialize(self, body: dict[str, Any]) -> Response:
        amount, reference = body.get("amount"), body.get("reference")
        if not isinstance(body.get("email"), str) or "@" not in body["email"]:
            return 400, {"status": False, "message": "Invalid Email Address Passed"}
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            return 400, {"status": False, "message": "Invalid Amount Sent"}
        if not isinstance(reference, str) or not _PAYSTACK_REFERENCE.match(reference):
            return 400, {
                "status": False,
                "message": "Invalid transaction reference. Only -, ., = and alphanumeric "
                "characters allowed.",
            }
        if body.get("currency", "NGN") not in _PAYSTACK_CURRENCIES:
            return 400, {"status": False, "message": "Currency not supported by merchant"}
        if reference in self.transactions:
            return 400, {"status": False, "message": "Duplicate Transaction Reference"}
        access_code = secrets.token_hex(8)
        self.transactions[reference] = {
            "id": next(self._ids),
            "domain": "test",
            "status": "abandoned",
            "reference": reference,
            "amount": amount,
            "message": None,
            "gateway_response": "The transaction was not completed",
            "paid_at": None,
            "created_at": _iso_now(),
            "channel": "card",
            "currency": body.get("currency", "NGN"),
            "metadata": body.get("metadata") or {},
            "fees": None,
            "customer": {"id": 84312, "email": body["email"], "customer_code": "CUS_fake"},
            "callback_url": body.get("callback_url"),
        }
        return 200, {
            "status": True,
            "message": "Authorization URL created",
            "data": {
                "authorization_url": f"https://checkout.paystack.com/{access_code}",
                "access_code": access_code,
                "reference": reference,
            },
        }

    def _refund(self, body: dict[str, Any]) -> Response:
        key = str(body.get("transaction", ""))
        txn = next(
            (t for t in self.transactions.values() if key in (t["reference"], str(t["id"]))),
            None,
        )
        if txn is None:
            return 404, {"status": False, "message": "Transaction not found"}
        if txn["status"] != "success":
            return 400, {"status": False, "message": "Cannot refund an unsuccessful transaction"}
        refunded = sum(r["amount"] for r in self.refunds if r["transaction"]["id"] == txn["id"])
        amount = body.get("amount", txn["amount"] - refunded)
        if not isinstance(amount, int) or amount <= 0 or refunded + amount > txn["amount"]:
            return 400, {
                "status": False,
                "message": "Refund amount cannot be more than the transaction amount",
            }
        if body.get("currency", txn["currency"]) != txn["currency"]:
            return 400, {"status": False, "message": "Currency mismatch"}
        refund = {
            "transaction": {
                "id": txn["id"],
                "reference": txn["reference"],
                "amount": txn["amount"],
                "customer": txn["customer"],
            },
            "integration": 412829,
            "deducted_amount": 0,
            "channel": None,
            "merchant_note": body.get("merchant_note", ""),
            "customer_note": body.get("customer_note", ""),
            "status": "pending",
            "refunded_by": "admin@example.com",
            "expected_at": _iso_now(),
            "currency": txn["currency"],
            "domain": "test",
            "amount": amount,
            "fully_deducted": False,
            "id": next(self._ids),
            "createdAt": _iso_now(),
        }
        self.refunds.append(refund)
        return 200, {
            "status": True,
            "message": "Refund has been queued for processing",
            "data": refund,
        }

    def _transaction(self, reference: str) -> dict[str, Any]:
        return self.transactions[reference]


# --- Stripe ------------------------------------------------------------------------------


def stripe_signature(
    body: bytes, secret: str, timestamp: int | None = None, extra_v1: list[str] | None = None
) -> str:
    """What Stripe puts in `Stripe-Signature`: `t=<unix>,v1=<hex HMAC-SHA256("t.body")>`,
    plus any further `v1=` values (rotation) and an ignorable `v0`."""
    t = int(time.time()) if timestamp is None else timestamp
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    parts = [f"t={t}", *(f"v1={s}" for s in extra_v1 or []), f"v1={v1}", "v0=6ffbb59b2300aa"]
    return ",".join(parts)


def _unflatten(form: dict[str, str]) -> dict[str, Any]:
    """Stripe's bracket form encoding (`a[b][0][c]=v`) back into nested dicts."""
    out: dict[str, Any] = {}
    for key, value in form.items():
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


@dataclass
class _Idempotent:
    params: dict[str, str]
    response: Response


class FakeStripe(FakeProvider):
    def __init__(
        self,
        secret_key: str = "sk_test_fake_stripe_0123456789",
        webhook_secret: str = "whsec_fake_0123456789",
    ) -> None:
        super().__init__()
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.sessions: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, _Idempotent] = {}

    def configure(self, payments: PaymentSettings) -> PaymentSettings:
        return payments.model_copy(
            update={
                "providers": sorted({*payments.providers, "stripe"}),
                "stripe_base_url": self.url,
                "stripe_secret_key": SecretStr(self.secret_key),
                "stripe_webhook_secret": SecretStr(self.webhook_secret),
            }
        )

    # -- what a buyer or Stripe does ---------------------------------------------------

    def pay(self, reference_or_session: str) -> tuple[bytes, dict[str, str]]:
        """The buyer pays in Checkout: a succeeded PaymentIntent, a complete and paid
        session, and the signed `checkout.session.completed` event."""
        with self._lock:
            session = self._session(reference_or_session)
            intent = self._intent_for(session)
            intent.update(status="succeeded", amount_received=intent["amount"])
            session.update(status="complete", payment_status="paid")
            return self.event("checkout.session.completed", _public(session))

    def fail_attempt(self, reference_or_session: str) -> tuple[bytes, dict[str, str]]:
        """A card is declined; the buyer may retry. Returns `payment_intent.payment_failed`."""
        with self._lock:
            intent = self._intent_for(self._session(reference_or_session))
            intent["status"] = "requires_payment_method"
            return self.event("payment_intent.payment_failed", dict(intent))

    def expire(self, reference_or_session: str) -> tuple[bytes, dict[str, str]]:
        with self._lock:
            session = self._session(reference_or_session)
            session["status"] = "expired"
            return self.event("checkout.session.expired", _public(session))

    def event(
        self,
        kind: str,
        obj: dict[str, Any],
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(
            {
                "id": f"evt_{secrets.token_hex(12)}",
                "object": "event",
                "api_version": "2024-06-20",
                "created": int(time.time()),
                "data": {"object": obj},
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": kind,
            }
        ).encode()
        return body, self.sign(body, secret, timestamp)

    def sign(
        self, body: bytes, secret: str | None = None, timestamp: int | None = None
    ) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "Stripe-Signature": stripe_signature(body, secret or self.webhook_secret, timestamp),
        }

    # -- the API -----------------------------------------------------------------------

    def route(self, req: Recorded) -> Response:
        if req.headers.get("authorization") != f"Bearer {self.secret_key}":
            return 401, _stripe_error(
                "invalid_request_error",
                f"Invalid API Key provided: {req.headers.get('authorization', '')[7:15]}****",
            )
        key = req.headers.get("idempotency-key")
        if req.method == "POST" and key is not None:
            params = req.form()
            seen = self._keys.get(f"{req.path}:{key}")
            if seen is not None:
                if seen.params != params:
                    return 400, _stripe_error(
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    )
                return seen.response
            response = self._post(req.path, params)
            self._keys[f"{req.path}:{key}"] = _Idempotent(params, response)
            return response
        if req.method == "POST":
            return self._post(req.path, req.form())
        if req.method == "GET":
            return self._get(req.path, req.query)
        return 404, _stripe_error("invalid_request_error", "Unrecognized request URL")

    def _post(self, path: str, params: dict[str, str]) -> Response:
        if path == "/v1/checkout/sessions":
            return self._create_session(_unflatten(params))
        if path == "/v1/refunds":
            return self._create_refund(_unflatten(params))
        return 404, _stripe_error("invalid_request_error", "Unrecognized request URL")

    def _get(self, path: str, query: dict[str, str]) -> Response:
        if path == "/v1/payment_intents/search":
            match = re.fullmatch(r"metadata\['reference'\]:'(.*)'", query.get("query", ""))
            if match is None:
                return 400, _stripe_error("invalid_request_error", "Invalid search query")
            found = [i for i in self.intents.values() if i["metadata"].get("reference") == match[1]]
            return 200, {
                "object": "search_result",
                "data": found,
                "has_more": False,
                "next_page": None,
                "url": "/v1/payment_intents/search",
            }
        for prefix, store, kind in (
            ("/v1/checkout/sessions/", self.sessions, "checkout.session"),
            ("/v1/payment_intents/", self.intents, "payment_intent"),
        ):
            if path.startswith(prefix):
                obj_id = path.removeprefix(prefix)
                if obj_id not in store:
                    return 404, _stripe_error(
                        "invalid_request_error", f"No such {kind}: '{obj_id}'", "resource_missing"
                    )
                return 200, _public(store[obj_id])
        return 404, _stripe_error("invalid_request_error", "Unrecognized request URL")

    def _create_session(self, p: dict[str, Any]) -> Response:
        if p.get("mode") != "payment":
            return 400, _stripe_error("invalid_request_error", "Missing required param: mode.")
        if not p.get("success_url"):
            return 400, _stripe_error(
                "invalid_request_error", "Missing required param: success_url."
            )
        try:
            item = p["line_items"]["0"]
            price = item["price_data"]
            quantity = int(item["quantity"])
            unit_amount = int(price["unit_amount"])
            currency = price["currency"]
            name = price["product_data"]["name"]
        except (KeyError, ValueError, TypeError):
            return 400, _stripe_error("invalid_request_error", "Invalid line_items.")
        if not re.fullmatch(r"[a-z]{3}", currency) or not name or unit_amount < 1:
            return 400, _stripe_error("invalid_request_error", "Invalid price_data.")
        expires_at = int(p.get("expires_at", time.time() + 86_400))
        if not time.time() + 1_800 <= expires_at <= time.time() + 86_400:
            return 400, _stripe_error(
                "invalid_request_error",
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                "Checkout Session creation.",
            )
        session_id = f"cs_test_{secrets.token_hex(16)}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": unit_amount * quantity,
            "amount_total": unit_amount * quantity,
            "client_reference_id": p.get("client_reference_id"),
            "currency": currency,
            "customer_email": p.get("customer_email"),
            "expires_at": expires_at,
            "livemode": False,
            "metadata": p.get("metadata", {}),
            "mode": "payment",
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": p["success_url"],
            "url": f"https://checkout.stripe.com/c/pay/{session_id}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
            "_intent_metadata": p.get("payment_intent_data", {}).get("metadata", {}),
        }
        self.sessions[session_id] = session
        return 200, _public(session)

    def _create_refund(self, p: dict[str, Any]) -> Response:
        intent = self.intents.get(p.get("payment_intent", ""))
        if intent is None:
            return 400, _stripe_error(
                "invalid_request_error", "No such payment_intent", "resource_missing"
            )
        if intent["status"] != "succeeded":
            return 400, _stripe_error(
                "invalid_request_error",
                "This PaymentIntent does not have a successful charge to refund.",
            )
        refunded = sum(
            r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"]
        )
        amount = int(p.get("amount", intent["amount_received"] - refunded))
        if amount <= 0 or refunded + amount > intent["amount_received"]:
            return 400, _stripe_error(
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge.",
                "amount_too_large",
            )
        refund = {
            "id": f"re_{secrets.token_hex(12)}",
            "object": "refund",
            "amount": amount,
            "charge": f"ch_{intent['id'][3:]}",
            "created": int(time.time()),
            "currency": intent["currency"],
            "metadata": p.get("metadata", {}),
            "payment_intent": intent["id"],
            "reason": None,
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return 200, refund

    def _session(self, reference_or_session: str) -> dict[str, Any]:
        if reference_or_session in self.sessions:
            return self.sessions[reference_or_session]
        return next(
            s for s in self.sessions.values() if s["client_reference_id"] == reference_or_session
        )

    def _intent_for(self, session: dict[str, Any]) -> dict[str, Any]:
        # Checkout creates the PaymentIntent when the buyer first tries to pay.
        if session["payment_intent"] is None:
            intent_id = f"pi_{secrets.token_hex(12)}"
            self.intents[intent_id] = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_received": 0,
                "currency": session["currency"],
                "metadata": session["_intent_metadata"],
                "status": "requires_payment_method",
                "livemode": False,
            }
            session["payment_intent"] = intent_id
        return self.intents[session["payment_intent"]]


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _stripe_error(kind: str, message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    return {"error": error}


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


# --- fixtures (import them into a conftest or a test module) -----------------------------


@pytest.fixture
def fake_paystack() -> Iterator[FakePaystack]:
    with FakePaystack() as fake:
        yield fake


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake
