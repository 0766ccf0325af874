"""One-line summaries of support tickets, for the helpdesk's queue view.

Ordinary application code: it calls any OpenAI-compatible chat-completions API over httpx, with
the base URL and key from the environment like the official SDK, and cleans the model's answer
into the single short line the queue has room for.
"""

from __future__ import annotations

import os
import re

import httpx

MODEL = "gpt-4o-mini"
MAX_SUMMARY_CHARS = 120  # the queue view's column width
SYSTEM_PROMPT = (
    "You summarise customer support tickets for a helpdesk queue. "
    "Say what the customer's problem is and what they want, and keep any order numbers."
)

# Models like to label their answer; the queue shows the summary alone.
_LABEL = re.compile(r"^(?:summary|tl;dr)\s*:\s*", re.IGNORECASE)


def summarise_ticket(text: str, *, transport: httpx.BaseTransport | None = None) -> str:
    """Summarise ``text`` in one line of at most ``MAX_SUMMARY_CHARS`` characters.

    ``transport`` is for tests: pytest-chatexp passes one that records and replays the calls.
    """
    key = os.environ.get("OPENAI_API_KEY")
    with httpx.Client(
        base_url=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        headers={"Authorization": f"Bearer {key}"} if key else {},
        transport=transport,
        timeout=30,
    ) as client:
        response = client.post(
            "/chat/completions",
            json={
                "model": MODEL,
                "temperature": 0.3,
                "max_tokens": 80,
                "messages": [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": text},
                ],
            },
        )
        response.raise_for_status()
    return _one_line(response.json()["choices"][0]["message"]["content"])


def _one_line(answer: str) -> str:
    line = _LABEL.sub("", " ".join(answer.split()))
    if len(line) > MAX_SUMMARY_CHARS:
        line = line[: MAX_SUMMARY_CHARS - 1].rstrip() + "…"
    return line
