"""The published song as a listener gets it: a small MP3 that decodes to the length its lyrics are timed to,
keeps its disclosure tag and signed C2PA manifest, and plays in Chromium (its clock advances)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mutagen.mp3 import MP3

from builder.gifts.audio_encoding import decoded_seconds
from builder.gifts.content_credentials import C2paSettings, digital_source_types, read_manifest
from builder.gifts.dev_certificates import ensure_dev_chain
from builder.gifts.disclosure import ALGORITHMIC, TRAINED
from builder.gifts.pipeline import produce_gift
from builder.gifts.providers import select_providers
from builder.gifts.providers.offline.audio import song_timing
from builder.gifts.publisher import new_gift_token
from tests.fakes.predictions_api import PredictionsConfig, PredictionsFake
from tests.gift_orders import order_dict, sample_order

WHEN = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MAX_SONG_BYTES = 300 * 1024  # a 30 s song; the benchmark reports it against the same target
STYLES = [("folk", "warm", "medium"), ("pop", "joyful", "fast"), ("lullaby", "tender", "slow"),
          ("rock", "epic", "slow")]


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> tuple[C2paSettings, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    chain, key = ensure_dev_chain(tmp_path_factory.mktemp("c2pa"))
    anchor = x509.load_pem_x509_certificates(chain)[-1].public_bytes(Encoding.PEM)
    return C2paSettings(enabled=True, source="development", chain_pem=chain, key_pem=key), anchor


def _publish(out: Path, c2pa: C2paSettings, env: dict[str, str] | None = None, **order: object) -> Path:
    token = new_gift_token()
    produce_gift(sample_order(**order), token, out_dir=out, providers=select_providers(env or {}), generated_at=WHEN,
                 c2pa=c2pa)
    return out / "gifts" / token


def _lyrics_on_the_page(page: str) -> str:
    """The lyrics as the page prints them, back in `[Label]` + lines form."""
    block = page.split('<div class="lyrics">', 1)[1].split("</div>", 1)[0]
    stanzas = []
    for stanza in re.findall(r"<p>(.*?)</p>", block, re.S):
        label = re.search(r'<span class="part">(.*?)</span>', stanza)
        lines = [html.unescape(line).strip() for line in re.sub(r'<span class="part">.*?</span>', "", stanza)
                 .split("<br>")]
        stanzas.append("\n".join(([f"[{label.group(1)}]"] if label else []) + [line for line in lines if line]))
    return "\n\n".join(stanzas)


@pytest.mark.parametrize(("genre", "mood", "tempo"), STYLES)
def test_the_offline_song_lasts_as_long_as_its_lyrics_are_timed_and_carries_its_disclosure(
        tmp_path: Path, signing: tuple[C2paSettings, bytes], genre: str, mood: str, tempo: str) -> None:
    c2pa, anchor = signing
    folder = _publish(tmp_path, c2pa, style={"genre": genre, "mood": mood, "tempo": tempo})
    page = (folder / "index.html").read_text()
    song = (folder / "song.mp3").read_bytes()
    assert re.search(r'<audio controls preload="metadata"[^>]* src="song.mp3"', page)

    lyrics = _lyrics_on_the_page(page)
    timing = song_timing(genre, tempo, lyrics)
    sung = [section for section in timing.sections if section.lines]
    assert sum(section.lines for section in sung) == len([line for line in lyrics.splitlines()
                                                          if line and not line.startswith("[")])  # every line sung
    assert decoded_seconds(song) == pytest.approx(timing.duration_s, abs=0.03)
    assert 20 <= timing.duration_s <= 40
    shown = re.search(r'<time datetime="PT(\d+)S">(\d+):(\d\d)</time>', page)
    # the same whole seconds as the player shows (browsers round the length down)
    assert shown and int(shown.group(1)) == int(timing.duration_s) == int(shown.group(2)) * 60 + int(shown.group(3))
    assert len(song) <= MAX_SONG_BYTES * timing.duration_s / 30

    manifest = read_manifest(song, "audio/mpeg", trust_anchors_pem=anchor)
    assert manifest is not None and manifest["_validation_state"] == "Trusted"
    assert digital_source_types(manifest) == [ALGORITHMIC]
    tags = MP3(folder / "song.mp3").tags
    assert tags is not None and tags.getall("TXXX:DigitalSourceType")[0].text == [ALGORITHMIC]


def test_offline_lyrics_print_every_line_once_and_end_with_a_couplet(tmp_path: Path) -> None:
    for seed_key in ("pay_1", "pay_2", "pay_3", "pay_4", "pay_5", "pay_6"):
        folder = _publish(tmp_path, C2paSettings.off("not signed here"), idempotency_key=seed_key + "x" * 12,
                          style=order_dict()["style"])
        lyrics = _lyrics_on_the_page((folder / "index.html").read_text())
        lines = [line for line in lyrics.splitlines() if line and not line.startswith("[")]
        assert len(lines) == len(set(lines)), lyrics  # no chorus printed three times, no line twice
        assert lyrics.count("[Chorus]") == 1
        outro = lyrics.split("[Outro]\n", 1)[1].splitlines()
        assert len(outro) == 2 and "Jon" in outro[1]  # the sign-off finishes the line before it


@pytest.mark.parametrize("output", ["wav", "mp3"])
def test_a_providers_song_is_published_as_a_signed_mp3_of_the_same_length(
        tmp_path: Path, signing: tuple[C2paSettings, bytes], output: str) -> None:
    c2pa, anchor = signing
    with PredictionsFake(PredictionsConfig(polls_to_finish=1, output=output)) as audio:
        folder = _publish(tmp_path, c2pa, {"GIFT_AUDIO_BASE_URL": audio.url, "GIFT_AUDIO_API_KEY": "sk-test",
                                           "GIFT_AUDIO_POLL_S": "0.01"})
    song = (folder / "song.mp3").read_bytes()
    assert song[:3] == b"ID3" and not (folder / "song.wav").exists()
    assert decoded_seconds(song) == pytest.approx(2.0 if output == "mp3" else 1.0, abs=0.06)
    manifest = read_manifest(song, "audio/mpeg", trust_anchors_pem=anchor)
    assert manifest is not None and digital_source_types(manifest) == [TRAINED]


@pytest.mark.browser
def test_chromium_plays_the_song_and_shows_its_length_before_play(tmp_path: Path, chromium, serve_static) -> None:
    from tests.support.browser import new_page

    folder = _publish(tmp_path, C2paSettings.off("not signed here"))
    expected = decoded_seconds((folder / "song.mp3").read_bytes())
    server = serve_static(tmp_path)
    with new_page(chromium) as page:  # the page's own CSP stays on: media-src 'self' must allow the song
        page.goto(f"{server.url}gifts/{folder.name}/")
        audio = page.locator("audio")
        _wait_until(lambda: audio.evaluate("a => a.readyState") >= 1)  # metadata, before anything plays
        assert audio.evaluate("a => a.duration") == pytest.approx(expected, abs=0.15)
        assert audio.evaluate("a => a.currentTime") == 0
        audio.evaluate("a => { a.muted = true; return a.play(); }")
        _wait_until(lambda: audio.evaluate("a => a.currentTime") > 0.5)
        assert audio.evaluate("a => a.error") is None and audio.evaluate("a => a.paused") is False


def _wait_until(condition, timeout_s: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the audio element never got there"
        time.sleep(0.1)
