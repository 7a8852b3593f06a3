"""Lyrics over an OpenAI-compatible Chat Completions API (`POST {base}/chat/completions`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from builder.gifts.contracts import Brief, Lyrics
from builder.gifts.providers.http import Deadline, Timeouts, checked_json, permanent, send

KIND = "chat-completions"
MAX_TITLE_CHARS = 120
MAX_LYRICS_CHARS = 6000

SYSTEM_PROMPT = (
    "You write short, warm, original song lyrics for a personal gift. Use only the first names you are given. "
    "Never include surnames, contact details, addresses, phone numbers, email addresses, links or numbers of "
    "any kind. Do not quote the buyer's notes: turn them into imagery in your own words. Answer with the song's "
    "title on the first line, then the lyrics (two verses and a chorus, under 250 words), and nothing else."
)


def user_prompt(brief: Brief) -> str:
    """The only text sent about an order: public fields and the minimised story hint."""
    style = brief.style
    lines = [
        f"Write a {style.mood} {style.genre} song at a {style.tempo} tempo.",
        f"Occasion: {brief.occasion.replace('-', ' ')}.",
        f"It is for {brief.recipient_display_name}, from {brief.from_display_name}.",
    ]
    if brief.story_hint:
        lines.append(f"Notes from the buyer, to paraphrase and never quote: {brief.story_hint}")
    return "\n".join(lines)


@dataclass
class ChatLyricsProvider:
    """Writes lyrics with a chat model; `api_key` goes only into the Authorization header."""

    base_url: str
    api_key: str = field(repr=False, default="")
    model: str = "gpt-4o-mini"
    timeouts: Timeouts = field(default_factory=Timeouts)
    kind: str = KIND

    def write(self, brief: Brief) -> Lyrics:
        payload = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user_prompt(brief)},
            ],
            "temperature": 0.9,
            "max_tokens": 800,
            "seed": brief.seed % 2**31,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        with httpx.Client(follow_redirects=False) as client:
            response, body = send(
                client, "POST", f"{self.base_url.rstrip('/')}/chat/completions", stage="lyrics",
                deadline=Deadline(self.timeouts.total_s), timeouts=self.timeouts, headers=headers, json_body=payload,
            )
        return parse_completion(checked_json("lyrics", response, body), model=self.model)


def parse_completion(answer: Any, *, model: str) -> Lyrics:
    """Title and lyrics from a chat completion; anything else is a permanent `malformed` error."""
    try:
        choice = answer["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise permanent("lyrics", "malformed", "no message in the answer") from None
    if choice.get("finish_reason") == "content_filter" or not isinstance(content, str):
        raise permanent("lyrics", "malformed", "no lyrics in the answer")
    lines = [line.rstrip() for line in content.strip().splitlines()]
    if len(lines) < 2:
        raise permanent("lyrics", "malformed", "lyrics too short")
    title = re.sub(r"^[#*_\s]*(?:title\s*:)?[*_\s]*", "", lines[0], flags=re.IGNORECASE).strip(" *_\"'“”")
    text = "\n".join(lines[1:]).strip()
    if not title or len(title) > MAX_TITLE_CHARS or not text or len(text) > MAX_LYRICS_CHARS:
        raise permanent("lyrics", "malformed", "title or lyrics out of bounds")
    return Lyrics(title=title, text=text, provider=KIND, model=str(answer.get("model") or model)[:80])
