"""Posting a JSON message to a chat robot's webhook (WeCom, DingTalk) with httpx, errors sorted into
TemporaryFailure (try again later) and PermanentFailure (an admin must fix something)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import httpx

from engine.notify.channels import PermanentFailure, TemporaryFailure

DEFAULT_TIMEOUT = 10.0


def post_json(url: str, payload: Mapping[str, Any], *, key: str, service: str, timeout: float = DEFAULT_TIMEOUT,
              busy_codes: Collection[int] = ()) -> dict[str, Any]:
    """POST `payload`; the robot's answer (errcode 0). `key` goes along as Idempotency-Key, for proxies or
    robots that drop a message they have already had."""
    try:
        response = httpx.post(url, json=dict(payload), timeout=timeout, headers={"Idempotency-Key": key})
    except httpx.TimeoutException:
        raise TemporaryFailure(f"{service} did not answer within {timeout:g} s") from None
    except httpx.TransportError as error:  # refused, reset, DNS
        raise TemporaryFailure(f"cannot reach {service}: {error or type(error).__name__}") from None
    except httpx.InvalidURL as error:
        raise PermanentFailure(f"the {service} webhook URL is not valid: {error}") from None
    status = response.status_code
    if status == 429 or status >= 500:
        raise TemporaryFailure(f"{service} answered HTTP {status}")
    if status >= 400:
        raise PermanentFailure(f"{service} refused the message: HTTP {status} {response.text[:200]}")
    try:
        answer = response.json()
    except ValueError:
        raise TemporaryFailure(f"{service} answered HTTP {status} without JSON: {response.text[:200]!r}") from None
    code = answer.get("errcode", 0) if isinstance(answer, dict) else 0
    if code:
        reason = f"{service} refused the message: errcode {code}: {answer.get('errmsg', '')}"
        if code in busy_codes:
            raise TemporaryFailure(reason)
        raise PermanentFailure(reason)
    return answer if isinstance(answer, dict) else {}


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` bytes of UTF-8 (robots count bytes), marked with … when cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"
