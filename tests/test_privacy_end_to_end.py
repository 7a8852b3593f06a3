"""The privacy property end to end: generated orders (Faker, several locales) go through the real commands,
and no private value appears in a published file, the ledger (outside the encrypted envelope), stdout or
stderr, the logs, the ops summary or the board's ops page."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import tempfile
from functools import cache
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from builder.app.board import board_site
from builder.cli import main
from builder.gifts.order import parse_order, private_names, private_values
from builder.site.build import BuildOptions
from tests.board_fixtures import copy_content
from tests.test_pipeline import LOCALES, _assert_no_private_value, _faker_order


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out, captured.err


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.casefold()))


@cache
def _template_words() -> dict[str, frozenset[str]]:
    """The words each output holds for an order whose every private text is a placeholder: a name part among
    them is the tool talking (a surname "Page" beside the ops page's "page"), not the order's data; the same
    rule the guard and tests/test_pipeline.py apply to the gift page."""
    root = Path(tempfile.mkdtemp(prefix="giftboard-privacy-template-"))
    order_file = root / "order.json"
    order_file.write_text(json.dumps({
        "idempotency_key": "pay_placeholder", "buyer": {"name": "Buyer", "email": "buyer@example.invalid"},
        "recipient": {"display_name": "Recipient", "full_name": "Recipient"}, "from_display_name": "Sender",
        "occasion": "birthday", "style": {"genre": "folk", "mood": "warm", "tempo": "medium"},
        "story": "A story.", "public_message": "",
    }), encoding="utf-8")
    ledger, out = root / "ledger", root / "site"
    printed, logged = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(logged)
    logging.getLogger().addHandler(handler)
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            assert main(["gift", "submit", str(order_file), "--ledger", str(ledger)]) == 0
            ref = printed.getvalue().strip().splitlines()[-1]
            assert main(["gift", "work", "--until-idle", "--ledger", str(ledger), "--out", str(out)]) == 0
            for argv in (["gift", "status", ref, "--json"], ["gift", "list", "--json"], ["ops", "summary", "--json"],
                         ["gift", "status", ref], ["gift", "list"], ["ops", "summary"]):
                assert main([*argv, "--ledger", str(ledger)]) == 0
    finally:
        logging.getLogger().removeHandler(handler)
    ledger_text = "\n".join(path.read_bytes().decode("utf-8", "replace") for path in ledger.rglob("*")
                            if path.is_file() and "envelopes" not in path.parts)
    board = root / "board"
    board_site(BuildOptions(content=copy_content(board), out=board / "site", cache_dir=board / "cache",
                            ledger=ledger)).build()
    return {"output": _words(printed.getvalue()), "logs": _words(logged.getvalue()), "ledger": _words(ledger_text),
            "ops": _words((board / "site" / "ops" / "index.html").read_text())}


def assert_absent(order_values: list[str], names: list[str], text: str, where: str, template: str) -> None:
    folded = text.casefold()
    for value in order_values:
        assert value.casefold() not in folded, f"a private value is in {where}"
    tool_words = _template_words()[template]
    for name in names:
        if _words(name) <= tool_words:
            continue  # the tool's own word (a surname "Page", the ops page's "page"), not the order's data
        assert not re.search(rf"(?<!\w){re.escape(name.casefold())}(?!\w)", folded), f"a private name is in {where}"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(locale=st.sampled_from(LOCALES), seed=st.integers(min_value=0, max_value=2**32 - 1))
@example(locale="en_US", seed=7)
@example(locale="ja_JP", seed=8)
def test_generated_orders_leak_nothing_anywhere(
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    locale: str,
    seed: int,
) -> None:
    root = tmp_path_factory.mktemp("privacy")
    monkeypatch.setenv("GIFT_ENVELOPE_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("GIFT_C2PA", "off")
    order = _faker_order(locale, seed)
    raw = json.dumps({
        "idempotency_key": order.idempotency_key.get_secret_value(),
        "buyer": {"name": order.buyer.name.get_secret_value(), "email": order.buyer.email.get_secret_value()},
        "recipient": {"display_name": order.recipient.display_name,
                      "full_name": order.recipient.full_name.get_secret_value()},
        "from_display_name": order.from_display_name,
        "occasion": order.occasion,
        "style": order.style.model_dump(),
        "story": order.story.get_secret_value(),
        "public_message": order.public_message,
    })
    assert parse_order(raw) == order
    order_file = root / "order.json"
    order_file.write_text(raw, encoding="utf-8")
    ledger, out = root / "ledger", root / "site"
    values = private_values(order)
    names = [name for name in private_names(order) if len(name) >= 4]

    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        submitted = run(capsys, "gift", "submit", str(order_file), "--ledger", str(ledger))
        ref = submitted[0].strip().splitlines()[-1]
        printed = list(submitted)
        printed += run(capsys, "gift", "work", "--until-idle", "--ledger", str(ledger), "--out", str(out))
        printed += run(capsys, "gift", "status", ref, "--json", "--ledger", str(ledger))
        printed += run(capsys, "gift", "list", "--json", "--ledger", str(ledger))
        printed += run(capsys, "ops", "summary", "--json", "--ledger", str(ledger))
    state = json.loads(run(capsys, "gift", "status", ref, "--json", "--ledger", str(ledger))[0])["state"]
    assert state in ("published", "held")
    assert_absent(values, names, "\n".join(printed), "stdout/stderr", "output")
    assert_absent(values, names, caplog.text, "the logs", "logs")
    for path in ledger.rglob("*"):
        if path.is_file() and "envelopes" not in path.parts:
            assert_absent(values, names, path.read_bytes().decode("utf-8", "replace"), f"ledger {path.name}", "ledger")
    if state == "published":
        _assert_no_private_value(order, out)
    board = root / "board"
    board_site(BuildOptions(content=copy_content(board), out=board / "site", cache_dir=board / "cache",
                            ledger=ledger)).build()
    assert_absent(values, names, (board / "site" / "ops" / "index.html").read_text(), "the ops page", "ops")
