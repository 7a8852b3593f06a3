"""Sample gift orders for the gift pipeline's tests."""

from __future__ import annotations

import copy
import json
from typing import Any

from builder.gifts.order import Order, parse_order

STORY = (
    "Maya Example and I met at 42 Baker Street, London NW1 6XE back in 2010. Call her on +44 20 7946 0958 or "
    "write to maya.ex@mailbox.org. Jonathan Example paid with 4111 1111 1111 1111. She loves sailing on the "
    "lake every single summer with her old golden dog Biscuit, and she laughs at every terrible pun I make."
)

BASE: dict[str, Any] = {
    "idempotency_key": "pay_3PqR8xK2",
    "buyer": {"name": "Jonathan Example", "email": "jon@example.org"},
    "recipient": {"display_name": "Maya", "full_name": "Maya Example"},
    "from_display_name": "Jon",
    "occasion": "birthday",
    "style": {"genre": "folk", "mood": "warm", "tempo": "medium"},
    "story": STORY,
    "public_message": "Happy birthday, Maya!",
}


def order_dict(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def order_json(**changes: Any) -> bytes:
    return json.dumps(order_dict(**changes)).encode()


def sample_order(**changes: Any) -> Order:
    return parse_order(order_dict(**changes))
