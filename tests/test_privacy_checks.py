"""The privacy checks' own rule: the tool's random identifiers are skipped, every private value is still seen."""

from __future__ import annotations

from builder.gifts.publisher import new_gift_token
from builder.jobs.ledger import new_draft_id, new_ref
from tests.support.privacy import without_generated_id_bytes, without_generated_ids


def test_a_fragment_inside_a_minted_identifier_is_no_leak() -> None:
    # the run that failed: the phone fragment "0958" inside a random order ref
    assert "0958" not in without_generated_ids("ord_09585042ffdf8227\naccepted\n")
    for minted in (new_ref(), new_draft_id(), new_gift_token(), "9f" * 32):
        assert without_generated_ids(f"x {minted} y") == "x <id> y"
        assert without_generated_id_bytes(f"/{minted}/".encode()) == b"/<id>/"


def test_private_values_stay_visible() -> None:
    text = ('Kowalczyk jon.k@mailbox.test "7946 0958" 79460958 pay_3PqR8xK2 Brzeczyszczykiewicz '
            "gifts/ord_x/ Larkspur-Road-12")
    assert without_generated_ids(text) == text
