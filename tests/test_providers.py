"""Providers: the offline default makes a real song, and the remote adapters talk real HTTP to fakes on 127.0.0.1
with timeouts and errors classified retryable or permanent."""

from __future__ import annotations

import io
import socket
import time
import wave
from collections import deque
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from PIL import Image

from builder.errors import ProviderError
from builder.gifts.contracts import Brief, Lyrics, Style
from builder.gifts.guard import minimise
from builder.gifts.providers import (
    ChatLyricsProvider,
    OfflineAudio,
    OfflineCover,
    OfflineLyrics,
    PredictionsAudioProvider,
    select_providers,
)
from builder.gifts.providers.base import lyrics_digest
from builder.gifts.providers.http import Timeouts, parse_retry_after
from tests.fakes.chat_api import ChatCompletionsFake, ChatConfig
from tests.fakes.predictions_api import MemoryJournal, PredictionsConfig, PredictionsFake
from tests.gift_orders import sample_order

KEY = "sk-test-SECRET-9f8e7d"
BRIEF = Brief("Maya", "Jon", "birthday", Style("folk", "warm", "medium"), "she loves sailing", seed=4242)
LYRICS = Lyrics(title="A Song for Maya", text="[Verse]\nla la la", provider="offline")


def _chat(fake: ChatCompletionsFake, total_s: float = 5.0) -> ChatLyricsProvider:
    return ChatLyricsProvider(base_url=fake.url, api_key=KEY, model="fake-model",
                              timeouts=Timeouts(connect_s=1.0, total_s=total_s))


def _audio(fake: PredictionsFake, total_s: float = 5.0) -> PredictionsAudioProvider:
    return PredictionsAudioProvider(base_url=fake.url, api_key=KEY, timeouts=Timeouts(connect_s=1.0, total_s=total_s),
                                    poll_interval_s=0.01)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- offline ----------------------------------------------------------------------------------------------


def test_offline_lyrics_are_real_deterministic_and_use_public_fields_only() -> None:
    lyrics = OfflineLyrics().write(BRIEF)
    assert lyrics == OfflineLyrics().write(BRIEF)
    assert "Maya" in lyrics.title + lyrics.text and "Jon" in lyrics.text
    assert "[Verse 1]" in lyrics.text and "[Chorus]" in lyrics.text
    assert "sailing" not in lyrics.text  # the story hint is never used offline
    assert lyrics.provider == "offline" and "procedural" in lyrics.model


def test_offline_lyrics_vary_with_seed_occasion_and_mood() -> None:
    texts = {
        OfflineLyrics().write(Brief("Maya", "Jon", occasion, Style("pop", mood, "fast"), "", seed)).text
        for occasion in ("birthday", "wedding") for mood in ("warm", "epic") for seed in (1, 2)
    }
    assert len(texts) == 8


def test_offline_audio_is_a_playable_wav_of_20_to_40_seconds() -> None:
    clip = OfflineAudio().compose(BRIEF, LYRICS)
    with wave.open(io.BytesIO(clip.data)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 22050)
        seconds = reader.getnframes() / reader.getframerate()
    assert 20 <= seconds <= 40 and abs(seconds - clip.duration_s) < 0.01
    assert (clip.mime, clip.extension, clip.provider) == ("audio/wav", "wav", "offline")
    assert len(set(clip.data[1000:5000])) > 50  # not silence


def test_offline_audio_is_deterministic_and_differs_by_style() -> None:
    again = OfflineAudio().compose(BRIEF, LYRICS)
    assert again.data == OfflineAudio().compose(BRIEF, LYRICS).data
    for style in (Style("rock", "epic", "fast"), Style("lullaby", "tender", "slow")):
        other = OfflineAudio().compose(Brief("Maya", "Jon", "birthday", style, "", seed=4242), LYRICS)
        assert other.data != again.data


def test_offline_cover_is_a_1024_png_with_no_metadata() -> None:
    art = OfflineCover().draw(BRIEF, LYRICS)
    with Image.open(io.BytesIO(art.png)) as image:
        assert (image.format, image.size) == ("PNG", (1024, 1024))
        assert image.info == {}  # no text chunks, EXIF, XMP or ICC profile
    assert art.png == OfflineCover().draw(BRIEF, LYRICS).png


# --- chat completions -------------------------------------------------------------------------------------


def test_chat_lyrics_are_parsed_and_the_key_goes_only_in_the_header() -> None:
    with ChatCompletionsFake() as fake:
        lyrics = _chat(fake).write(BRIEF)
    assert lyrics.title == "A Song Made Of Light"
    assert lyrics.text.startswith("[Verse 1]")
    assert (lyrics.provider, lyrics.model) == ("chat-completions", "fake-model")
    assert fake.authorization == [f"Bearer {KEY}"]
    assert KEY not in repr(_chat(fake))


def test_chat_prompt_holds_public_fields_and_the_minimised_story_only() -> None:
    order = sample_order()
    with ChatCompletionsFake() as fake:
        _chat(fake).write(minimise(order))
    prompt = "\n".join(fake.prompts)
    assert "Maya" in prompt and "Jon" in prompt and "folk" in prompt
    for private in ("Example", "Jonathan", "jon@example.org", "maya.ex", "7946", "Baker Street", "4111"):
        assert private not in prompt


@pytest.mark.parametrize(
    ("status", "category", "retryable"),
    [(500, "http_5xx", True), (503, "http_5xx", True), (429, "rate_limited", True), (408, "http_retryable", True),
     (425, "http_retryable", True), (400, "http_4xx", False), (401, "http_4xx", False), (404, "http_4xx", False)],
)
def test_chat_http_errors_are_classified(status: int, category: str, retryable: bool) -> None:
    with ChatCompletionsFake(ChatConfig(statuses=deque([status]))) as fake:
        with pytest.raises(ProviderError) as caught:
            _chat(fake).write(BRIEF)
    assert (caught.value.category, caught.value.retryable) == (category, retryable)
    assert KEY not in str(caught.value) and fake.url not in str(caught.value)


def test_retry_after_seconds_is_honoured() -> None:
    with ChatCompletionsFake(ChatConfig(statuses=deque([429]), retry_after="7")) as fake:
        with pytest.raises(ProviderError) as caught:
            _chat(fake).write(BRIEF)
    assert caught.value.retry_after == 7.0


def test_retry_after_http_date_is_honoured() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    with ChatCompletionsFake(ChatConfig(statuses=deque([503]), retry_after=when)) as fake:
        with pytest.raises(ProviderError) as caught:
            _chat(fake).write(BRIEF)
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


def test_retry_after_parsing_edge_cases() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 25 Nov 2026 11:00:00 GMT", now) == 0.0  # in the past: retry now
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0


def test_a_slow_chat_api_times_out_as_retryable() -> None:
    with ChatCompletionsFake(ChatConfig(latency_s=5.0)) as fake:
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            _chat(fake, total_s=0.3).write(BRIEF)
    assert time.monotonic() - started < 4.0  # gave up long before the answer (a wide margin for a busy machine)
    assert (caught.value.category, caught.value.retryable) == ("timeout", True)


def test_an_unreachable_chat_api_is_a_retryable_connect_error() -> None:
    provider = ChatLyricsProvider(base_url=f"http://127.0.0.1:{_closed_port()}/v1", api_key=KEY)
    with pytest.raises(ProviderError) as caught:
        provider.write(BRIEF)
    assert (caught.value.category, caught.value.retryable) == ("connect", True)


@pytest.mark.parametrize("mode", ["malformed", "not-json"])
def test_malformed_chat_answers_are_permanent(mode: str) -> None:
    with ChatCompletionsFake(ChatConfig(mode=mode)) as fake:
        with pytest.raises(ProviderError) as caught:
            _chat(fake).write(BRIEF)
    assert (caught.value.category, caught.value.retryable) == ("malformed", False)


# --- predictions ------------------------------------------------------------------------------------------


def test_a_prediction_is_created_polled_and_downloaded() -> None:
    memory = MemoryJournal()
    with PredictionsFake(PredictionsConfig(polls_to_finish=3)) as fake:
        clip = _audio(fake).compose(BRIEF, LYRICS, journal=memory.journal())
    assert clip.data.startswith(b"RIFF") and clip.extension == "wav" and clip.duration_s == pytest.approx(1.0)
    assert clip.provider == "predictions" and memory.ids == [clip.prediction_id]
    assert fake.created == 1 and len(fake.lookups) == 3
    assert set(fake.authorization) == {f"Bearer {KEY}"}
    assert fake.inputs[0]["input"]["lyrics"] == LYRICS.text
    assert "sailing" not in fake.prompts[0]  # the audio prompt is style and occasion only


def test_the_intent_is_recorded_before_the_create_and_sent_as_its_idempotency_key() -> None:
    memory = MemoryJournal()
    seen_at_create: list[list[str]] = []
    with PredictionsFake(PredictionsConfig(polls_to_finish=1)) as fake:
        original = fake.create

        def create(body: dict, key: str) -> tuple[int, dict]:
            seen_at_create.append(list(memory.intents))  # what the ledger held when the request arrived
            return original(body, key)

        fake.create = create  # type: ignore[method-assign]
        _audio(fake).compose(BRIEF, LYRICS, journal=memory.journal())
    assert len(memory.intents) == 1 and memory.intents[0].startswith("intent_")
    assert seen_at_create == [memory.intents]
    assert list(fake.by_key) == memory.intents


def test_a_timeout_after_creation_records_the_id_and_the_retry_looks_it_up() -> None:
    memory = MemoryJournal()
    with PredictionsFake(PredictionsConfig(polls_to_finish=1000)) as fake:
        with pytest.raises(ProviderError) as caught:
            _audio(fake, total_s=0.3).compose(BRIEF, LYRICS, journal=memory.journal())
        assert (caught.value.category, caught.value.retryable) == ("timeout", True)
        assert len(memory.ids) == 1
        fake.config.polls_to_finish = 0  # the job finished meanwhile
        clip = _audio(fake).compose(BRIEF, LYRICS, journal=memory.journal())
    assert fake.created == 1 and fake.replays == 0  # looked up by its id, not paid for twice
    assert clip.prediction_id == memory.ids[0] and len(memory.ids) == 1 and len(memory.intents) == 1


def test_a_create_whose_answer_was_lost_is_asked_again_with_its_intent_not_made_twice() -> None:
    memory = MemoryJournal()
    with PredictionsFake(PredictionsConfig(create_stall_s=0.6, polls_to_finish=1)) as fake:
        with pytest.raises(ProviderError) as caught:
            _audio(fake, total_s=0.3).compose(BRIEF, LYRICS, journal=memory.journal())
        assert caught.value.category == "timeout"
        assert memory.intent and memory.prediction_id == ""  # outcome unknown: an intent, no id
        fake.config.create_stall_s = 0.0
        clip = _audio(fake).compose(BRIEF, LYRICS, journal=memory.journal())
    assert fake.created == 1 and fake.replays == 1 and clip.data.startswith(b"RIFF")
    assert len(memory.intents) == 1 and memory.ids == [clip.prediction_id]


def test_a_5xx_after_the_job_was_made_is_not_paid_twice() -> None:
    memory = MemoryJournal()
    with PredictionsFake(PredictionsConfig(lost_answer_rate=1.0, polls_to_finish=1)) as fake:
        with pytest.raises(ProviderError) as caught:
            _audio(fake).compose(BRIEF, LYRICS, journal=memory.journal())
        assert (caught.value.category, caught.value.retryable) == ("http_5xx", True)
        fake.config.lost_answer_rate = 0.0
        _audio(fake).compose(BRIEF, LYRICS, journal=memory.journal())
    assert fake.created == 1 and fake.replays == 1


def test_a_retry_with_other_lyrics_never_gets_the_audio_made_for_the_earlier_ones() -> None:
    memory = MemoryJournal()
    other = Lyrics(title=LYRICS.title, text=LYRICS.text + "\nOne more line for the sea.", provider="offline")
    with PredictionsFake(PredictionsConfig(create_stall_s=0.6, polls_to_finish=1)) as fake:
        with pytest.raises(ProviderError):
            _audio(fake, total_s=0.3).compose(BRIEF, LYRICS, journal=memory.journal())
        first_intent = memory.intent
        fake.config.create_stall_s = 0.0
        clip = _audio(fake).compose(BRIEF, other, journal=memory.journal())  # the lyrics stage ran again
        again = _audio(fake).compose(BRIEF, other, journal=memory.journal())  # and a later retry
    assert memory.intents[0] == first_intent != memory.intents[1] and len(memory.intents) == 2
    assert [body["input"]["lyrics"] for body in fake.inputs] == [LYRICS.text, other.text]
    assert fake.created == 2 and clip.prediction_id == again.prediction_id != fake.by_key[first_intent]


def test_the_fake_refuses_a_key_reused_with_another_body() -> None:
    with PredictionsFake() as fake:
        assert fake.create({"input": {"lyrics": "a"}}, "k1")[0] == 201
        assert fake.create({"input": {"lyrics": "a"}}, "k1")[0] == 200
        assert fake.create({"input": {"lyrics": "b"}}, "k1")[0] == 422
    assert fake.created == 1 and fake.replays == 1


def test_an_unknown_recorded_id_starts_a_new_prediction() -> None:
    memory = MemoryJournal(intent="intent_old", lyrics_hash=lyrics_digest(LYRICS), prediction_id="p9999gone")
    with PredictionsFake() as fake:
        clip = _audio(fake).compose(BRIEF, LYRICS, journal=memory.journal())
    assert fake.created == 1 and clip.prediction_id != "p9999gone" and memory.intents[0] != "intent_old"


def test_a_failed_prediction_is_retryable_and_its_id_is_not_reused() -> None:
    memory = MemoryJournal()
    with PredictionsFake(PredictionsConfig(final_status="failed", polls_to_finish=1)) as fake:
        with pytest.raises(ProviderError) as caught:
            _audio(fake).compose(BRIEF, LYRICS, journal=memory.journal())
        assert (caught.value.category, caught.value.retryable) == ("prediction_failed", True)
        fake.config.final_status = "succeeded"
        _audio(fake).compose(BRIEF, LYRICS, journal=memory.journal())
    assert fake.created == 2 and len(set(memory.ids)) == 2 and len(set(memory.intents)) == 2


def test_rate_limited_create_carries_retry_after() -> None:
    config = PredictionsConfig(create_statuses=deque([429]), retry_after="12")
    with PredictionsFake(config) as fake, pytest.raises(ProviderError) as caught:
        _audio(fake).compose(BRIEF, LYRICS)
    assert (caught.value.category, caught.value.retryable, caught.value.retry_after) == ("rate_limited", True, 12.0)


def test_poll_errors_are_classified() -> None:
    with PredictionsFake(PredictionsConfig(poll_statuses=deque([502]))) as fake, pytest.raises(ProviderError) as caught:
        _audio(fake).compose(BRIEF, LYRICS)
    assert (caught.value.category, caught.value.retryable) == ("http_5xx", True)
    with PredictionsFake(PredictionsConfig(create_statuses=deque([422]))) as fake, pytest.raises(ProviderError) as c2:
        _audio(fake).compose(BRIEF, LYRICS)
    assert (c2.value.category, c2.value.retryable) == ("http_4xx", False)


@pytest.mark.parametrize("output", ["text", "none"])
def test_output_that_is_not_audio_is_malformed(output: str) -> None:
    with PredictionsFake(PredictionsConfig(output=output, polls_to_finish=1)) as fake:
        with pytest.raises(ProviderError) as caught:
            _audio(fake).compose(BRIEF, LYRICS)
    assert (caught.value.category, caught.value.retryable) == ("malformed", False)


# --- selection --------------------------------------------------------------------------------------------


def test_providers_are_selected_from_the_environment() -> None:
    offline = select_providers({})
    assert offline.kinds() == {"lyrics": "offline", "audio": "offline", "cover": "offline"}
    remote = select_providers({
        "GIFT_LYRICS_BASE_URL": "http://127.0.0.1:9/v1", "GIFT_LYRICS_API_KEY": KEY, "GIFT_LYRICS_MODEL": "m1",
        "GIFT_AUDIO_BASE_URL": "http://127.0.0.1:9/v1", "GIFT_AUDIO_API_KEY": KEY,
    })
    assert remote.kinds() == {"lyrics": "chat-completions", "audio": "predictions", "cover": "offline"}
    assert isinstance(remote.lyrics, ChatLyricsProvider) and remote.lyrics.model == "m1"
    assert KEY not in repr(remote)
    only_lyrics = select_providers({"GIFT_LYRICS_BASE_URL": "http://127.0.0.1:9/v1"})
    assert only_lyrics.kinds()["audio"] == "offline"


def test_a_recorded_job_whose_output_expired_is_replaced_by_a_new_one() -> None:
    memory = MemoryJournal()
    with PredictionsFake(PredictionsConfig(polls_to_finish=1)) as fake:
        _audio(fake).compose(BRIEF, LYRICS, journal=memory.journal())
        fake.config.file_statuses.append(404)
        clip = _audio(fake).compose(BRIEF, LYRICS, journal=memory.journal())
    assert fake.created == 2 and clip.prediction_id == memory.ids[1] != memory.ids[0]


def test_a_flaky_predictions_api_fails_retryably_or_succeeds() -> None:
    outcomes = set()
    with PredictionsFake(PredictionsConfig(error_rate=0.5, polls_to_finish=1, seed=3)) as fake:
        for _ in range(8):
            try:
                _audio(fake).compose(BRIEF, LYRICS)
                outcomes.add("ok")
            except ProviderError as error:
                assert (error.category, error.retryable) == ("http_5xx", True)
                outcomes.add("retry")
    assert outcomes == {"ok", "retry"}


@pytest.mark.parametrize(
    "first_line", ["Title: Harbour Lights", "# Harbour Lights", "**Title:** Harbour Lights", '"Harbour Lights"']
)
def test_chat_titles_are_read_from_common_first_line_shapes(first_line: str) -> None:
    from builder.gifts.providers.chat import parse_completion

    answer = {"choices": [{"message": {"content": f"{first_line}\n\n[Verse 1]\nla la"}}]}
    lyrics = parse_completion(answer, model="m")
    assert (lyrics.title, lyrics.text) == ("Harbour Lights", "[Verse 1]\nla la")
