"""Built-in channel `dingtalk`: a DingTalk (钉钉) group robot, with its HMAC-SHA256 signature when the robot
has a secret ("加签"). One message per notification, at most 20 a minute per robot (DingTalk's limit).

    plugins:
      dingtalk: {webhook: "https://oapi.dingtalk.com/robot/send?access_token=...", secret_env: JXC_DINGTALK_SECRET}

The secret (SEC...) is read from the environment variable named by `secret_env`, never from YAML. Signing:
`timestamp` in milliseconds, `sign` = urlencode(base64(HMAC-SHA256(key=secret, "timestamp\\nsecret"))),
both appended to the webhook URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any, ClassVar

from engine import hookimpl
from engine.notify.channels import BaseChannel, Message, PermanentFailure, RateLimit, digest
from engine.notify.http import DEFAULT_TIMEOUT, clip, post_json

BUSY = (-1, 130101)  # system busy; sending too fast
LIMIT = 20000  # bytes of content DingTalk accepts


class DingTalkChannel(BaseChannel):
    name = "dingtalk"
    to = "group"
    rate_limit = RateLimit(20, 60)
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "webhook": {"type": "string", "pattern": "^https?://", "description": "the group robot's webhook URL"},
            "secret_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                           "description": "the environment variable holding the robot's signing secret"},
            "msgtype": {"enum": ["markdown", "text"]},
            "timeout": {"type": "number", "exclusiveMinimum": 0},
        },
        "required": ["webhook"],
        "additionalProperties": False,
    }

    def rate_key(self, settings: Mapping[str, Any], recipient: str) -> str:
        return f"dingtalk:{digest(settings['webhook'])}"

    def send(self, message: Message, settings: Mapping[str, Any]) -> None:
        url = settings["webhook"]
        if settings.get("secret_env"):
            secret = os.environ.get(settings["secret_env"])
            if not secret:
                raise PermanentFailure(f"the environment variable {settings['secret_env']} (dingtalk secret_env) is "
                                       "not set for the worker")
            url = signed_url(url, secret, int(time.time() * 1000))
        post_json(url, payload(message, settings.get("msgtype", "markdown")), key=message.key, service="DingTalk",
                  timeout=float(settings.get("timeout", DEFAULT_TIMEOUT)), busy_codes=BUSY)


def sign(secret: str, timestamp_ms: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(mac))


def signed_url(webhook: str, secret: str, timestamp_ms: int) -> str:
    joiner = "&" if "?" in webhook else "?"
    return f"{webhook}{joiner}timestamp={timestamp_ms}&sign={sign(secret, timestamp_ms)}"


def payload(message: Message, msgtype: str) -> dict[str, Any]:
    if msgtype == "text":
        return {"msgtype": "text", "text": {"content": clip(f"{message.subject}\n{message.text}", LIMIT)}}
    text = f"#### {message.subject}\n\n{message.markdown or message.text}"
    return {"msgtype": "markdown", "markdown": {"title": message.subject, "text": clip(text, LIMIT)}}


CHANNEL = DingTalkChannel()


@hookimpl
def jxc_channels() -> list[Any]:
    return [CHANNEL]
