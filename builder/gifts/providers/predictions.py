"""Audio over a Replicate-style predictions API: create, poll until terminal, download the output.

Exactly-once charges: before a create is sent, a fresh intent id is recorded in the order's `JobJournal`
(the ledger) and sent as the create's `Idempotency-Key`. Once the provider answers, the prediction's id is
recorded too. A retry of the same order with the same lyrics (`JobJournal.reusable`):
- with a recorded id, looks the prediction up (and fetches its audio) before anything new is paid for;
- with an intent but no id (the create's outcome is unknown: a timeout, a 5xx, a killed worker), sends the
  create again with the *same* key: the provider answers with the job that key already made, or makes it once.
A retry with other lyrics (the lyrics stage ran again and wrote new ones) never reuses the earlier audio.
"""

from __future__ import annotations

import io
import re
import secrets
import time
import wave
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from builder.errors import ProviderError
from builder.gifts.contracts import AudioClip, Brief, Lyrics
from builder.gifts.providers.base import JobJournal, lyrics_digest
from builder.gifts.providers.http import Deadline, Timeouts, checked_json, error_for_status, permanent, retryable, send

KIND = "predictions"
TERMINAL = ("succeeded", "failed", "canceled")
MAX_AUDIO_BYTES = 50 * 1024 * 1024
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_FORMATS = (  # magic → (mime, extension): the formats media can tag with a disclosure
    (b"RIFF", "audio/wav", "wav"),
    (b"ID3", "audio/mpeg", "mp3"),
    (b"\xff\xfb", "audio/mpeg", "mp3"),
    (b"\xff\xf3", "audio/mpeg", "mp3"),
    (b"fLaC", "audio/flac", "flac"),
)


def music_prompt(brief: Brief) -> str:
    """The musical description: style and occasion only (the lyrics travel separately)."""
    style = brief.style
    return f"A {style.mood} {style.genre} song at a {style.tempo} tempo for a {brief.occasion.replace('-', ' ')}."


@dataclass
class PredictionsAudioProvider:
    base_url: str
    api_key: str = field(repr=False, default="")
    model: str = ""  # sent as "version" when set
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(connect_s=5.0, total_s=300.0))
    poll_interval_s: float = 1.0
    duration_s: int = 30
    kind: str = KIND

    def compose(
        self,
        brief: Brief,
        lyrics: Lyrics,
        *,
        journal: JobJournal | None = None,
    ) -> AudioClip:
        journal = journal or JobJournal()
        deadline = Deadline(self.timeouts.total_s)
        prior = journal.reusable(lyrics)
        with httpx.Client(follow_redirects=False) as client:
            if prior is not None and prior.prediction_id:
                found = self._lookup(client, prior.prediction_id, deadline)
                if found is not None:
                    try:
                        return self._download(client, self._wait(client, found, deadline), deadline)
                    except ProviderError as error:
                        if error.retryable or error.category != "http_4xx":
                            raise
                        # the recorded job's output has expired: make a new one
                prior = None  # gone, failed or expired: a new intent, so the provider makes a new job
            if prior is not None and prior.intent:
                intent = prior.intent  # the outcome of that create is unknown: ask again with its key
            else:
                intent = "intent_" + secrets.token_hex(16)
                journal.intend(intent, lyrics_digest(lyrics))  # durable before anything can be paid for
            prediction = self._create(client, brief, lyrics, deadline, intent)
            journal.created(prediction["id"])
            return self._download(client, self._wait(client, prediction, deadline), deadline)

    # --- steps ---

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path}"

    def _get(self, client: httpx.Client, prediction_id: str, deadline: Deadline) -> tuple[httpx.Response, bytes]:
        return send(client, "GET", self._url(f"predictions/{prediction_id}"), stage="audio", deadline=deadline,
                    timeouts=self.timeouts, headers=self._headers())

    def _lookup(self, client: httpx.Client, prediction_id: str, deadline: Deadline) -> dict[str, Any] | None:
        """The recorded prediction, unless it is unknown, failed or canceled (then a new one is made)."""
        if not _ID.match(prediction_id):
            return None
        response, body = self._get(client, prediction_id, deadline)
        if response.status_code == 404:
            return None
        prediction = _prediction(checked_json("audio", response, body))
        return None if prediction["status"] in ("failed", "canceled") else prediction

    def _create(self, client: httpx.Client, brief: Brief, lyrics: Lyrics, deadline: Deadline, intent: str
                ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "input": {
                "prompt": music_prompt(brief),
                "lyrics": lyrics.text,
                "duration": self.duration_s,
                "seed": brief.seed % 2**31,
            }
        }
        if self.model:
            payload["version"] = self.model
        # the recorded intent is the key: the provider answers a repeat with the job it already made
        response, body = send(client, "POST", self._url("predictions"), stage="audio", deadline=deadline,
                              timeouts=self.timeouts, headers={**self._headers(), "Idempotency-Key": intent},
                              json_body=payload)
        return _prediction(checked_json("audio", response, body))

    def _wait(self, client: httpx.Client, prediction: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
        while prediction["status"] not in TERMINAL:
            pause = min(self.poll_interval_s, deadline.remaining())
            if pause <= 0:
                raise retryable("audio", "timeout", "prediction still running; its id was recorded")
            time.sleep(pause)
            response, body = self._get(client, prediction["id"], deadline)
            prediction = _prediction(checked_json("audio", response, body))
        if prediction["status"] == "failed":
            raise retryable("audio", "prediction_failed")
        if prediction["status"] == "canceled":
            raise permanent("audio", "prediction_canceled")
        return prediction

    def _download(self, client: httpx.Client, prediction: dict[str, Any], deadline: Deadline) -> AudioClip:
        output = prediction.get("output")
        url = output[0] if isinstance(output, list) and output else output
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise permanent("audio", "malformed", "no output URL")
        same_origin = urlsplit(url)[:2] == urlsplit(self.base_url)[:2]
        response, data = send(client, "GET", url, stage="audio", deadline=deadline, timeouts=self.timeouts,
                              headers=self._headers() if same_origin else None, max_bytes=MAX_AUDIO_BYTES,
                              follow_redirects=True)  # file hosts redirect to CDNs; httpx drops auth cross-origin
        error = error_for_status("audio", response)
        if error is not None:
            raise error
        mime, extension = _audio_format(data)
        return AudioClip(data=data, mime=mime, extension=extension, duration_s=_duration(data, extension),
                         provider=KIND, prediction_id=prediction["id"])


def _prediction(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), str) or not _ID.match(answer["id"]):
        raise permanent("audio", "malformed", "prediction without a usable id")
    status = answer.get("status")
    if status not in ("starting", "processing", *TERMINAL):
        raise permanent("audio", "malformed", "unknown prediction status")
    return answer


def _audio_format(data: bytes) -> tuple[str, str]:
    for magic, mime, extension in _FORMATS:
        if data.startswith(magic) and (magic != b"RIFF" or data[8:12] == b"WAVE"):
            return mime, extension
    raise permanent("audio", "malformed", "output is not WAV, MP3 or FLAC audio")


def _duration(data: bytes, extension: str) -> float:
    try:
        if extension == "wav":
            with wave.open(io.BytesIO(data)) as reader:
                return float(reader.getnframes()) / float(reader.getframerate())
        import mutagen

        found = mutagen.File(io.BytesIO(data))
        return float(found.info.length) if found is not None else 0.0
    except Exception:  # wave, EOFError, ValueError and mutagen's own family for damaged files
        raise permanent("audio", "malformed", "unreadable audio") from None
