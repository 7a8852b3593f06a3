"""Early feedback for a checkout form: the order model and the public-field guard, before payment.

`precheck` is what `POST /v1/orders/validate` and `gift submit --check` run. It records nothing and says what
was found in which public field ("public_message: contains a phone number"), never the value itself: the
private values it compares against are the buyer's own, but a response can be logged or cached on the way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.errors import OrderError
from builder.gifts import guard
from builder.gifts.order import Order, parse_order

FIELD_LABELS = {
    "recipient.display_name": "the recipient's display name",
    "from_display_name": "the sender's display name",
    "public_message": "the message",
}


@dataclass(frozen=True)
class Finding:
    """One thing the guard would hold in a public field: where, what kind, and a sentence a form can show."""

    field: str
    category: str  # one of guard.CATEGORIES, with private_value narrowed to private_name where it is a name
    message: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "category": self.category, "message": self.message}


@dataclass(frozen=True)
class Precheck:
    """The outcome: field errors of the order model (nothing else is checked then), or the guard's findings."""

    errors: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors and not self.findings

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": list(self.errors), "findings": [f.as_json() for f in self.findings]}


def precheck(raw: bytes | str | dict[str, Any]) -> Precheck:
    """Validate an order and run the public-field guard on it; raises nothing for a bad order."""
    try:
        order = parse_order(raw)
    except OrderError as error:
        return Precheck(errors=tuple(error.field_errors))
    return Precheck(findings=tuple(findings(order)))


def findings(order: Order) -> list[Finding]:
    found = []
    for field, category in guard.public_field_findings(order):
        if category == "private_value" and guard.names_a_private_person(order, _field_text(order, field)):
            category = "private_name"
        found.append(Finding(field, category, f"{FIELD_LABELS[field]} {MESSAGES[category]}"))
    return found


MESSAGES = {
    **guard.FINDING_MESSAGES,
    "private_name": "contains a private name (a surname or a full name that the page does not show)",
    "private_value": "contains a private detail from the order (an email, a reference or a phone number)",
}


def _field_text(order: Order, field: str) -> str:
    public = order.public()
    return {"recipient.display_name": public.recipient_display_name, "from_display_name": public.from_display_name,
            "public_message": public.public_message}[field]
