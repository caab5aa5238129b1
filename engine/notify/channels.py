"""Notification channels: what a channel plugin provides (hook `jxc_channels`) and what it is given to send.

A channel is an object with

- `name`: what alerts list under `channels:` (`email`, `wecom`, ...);
- `settings_schema`: the JSON Schema of its settings in app.yaml (`plugins: {<plugin name>: {...}}`), or
  None when it needs none;
- `to`: "user" (one message per recipient, to `address(user)`, e.g. their email) or "group" (one message
  per notification to a group, e.g. a chat robot, whoever the recipients are);
- `rate_limit`: a RateLimit (at most `count` sends per `seconds` to one destination) or None;
- `idempotent`: True when sending the same message twice is harmless (the far end drops duplicates by
  `message.key`); only then is a send interrupted by a crash tried again without an admin;
- `send(message, settings)`: deliver one message or raise; TemporaryFailure (or any other error) is retried
  with backoff, PermanentFailure is not (the notification is dead at once).

`BaseChannel` has the defaults; `address`, `rate_key` and `check` may be overridden.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


class DeliveryError(Exception):
    """A send that did not go through; `str()` is the reason an admin reads."""

    retry: ClassVar[bool] = True


class TemporaryFailure(DeliveryError):
    """The far end is down, busy or rate-limiting: try again later."""


class PermanentFailure(DeliveryError):
    """Trying again cannot help (bad settings, a refused address, a rejected message)."""

    retry = False


@dataclass(frozen=True)
class RateLimit:
    count: int
    seconds: int


@dataclass(frozen=True)
class Message:
    """One notification to one recipient through one channel, as the channel's `send` gets it."""

    id: int
    key: str  # the same for every attempt of this message: an idempotency key for the far end
    channel: str
    recipient: str  # the address (email), or "group"
    subject: str
    text: str  # plain text
    html: str = ""  # the same message, HTML-escaped (safe to put in an HTML mail)
    markdown: str = ""  # the same message with values escaped for Markdown
    url: str | None = None  # the absolute link to the record (or its path when no base_url is set)
    data: Mapping[str, Any] = field(default_factory=dict)  # where it comes from (alert, entity, record_id)


class BaseChannel:
    name: ClassVar[str] = ""
    settings_schema: ClassVar[dict[str, Any] | None] = None
    to: ClassVar[str] = "group"  # "user" or "group"
    rate_limit: ClassVar[RateLimit | None] = None
    idempotent: ClassVar[bool] = False

    def address(self, user: Mapping[str, Any]) -> str | None:
        """A user's address on this channel (channels with to = "user")."""
        return None

    def rate_key(self, settings: Mapping[str, Any], recipient: str) -> str:
        """Sends that share a rate limit share this key (one robot, one mailbox)."""
        return f"{self.name}:{digest(repr(sorted(settings.items())) + recipient)}"

    def check(self, settings: Mapping[str, Any]) -> str | None:
        """Why the channel cannot send with these settings (None: it can); checked when queueing."""
        return None

    def send(self, message: Message, settings: Mapping[str, Any]) -> None:  # pragma: no cover - an interface
        raise NotImplementedError


def digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ChannelEntry:
    channel: Any
    plugin: str  # the plugin that provides it: its settings are app.plugins[plugin]


INBOX = "inbox"  # the in-app inbox: always there, written in the event's transaction (no outbox)
