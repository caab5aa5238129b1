"""Built-in channel `wecom`: a WeCom (企业微信) group robot. One message per notification to the group,
at most 20 a minute per robot (WeCom's limit; more are held back until the minute has passed).

    plugins:
      wecom: {webhook: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...", msgtype: markdown}

`msgtype` is `markdown` (default: the subject in bold, values escaped) or `text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine import hookimpl
from engine.notify.channels import BaseChannel, Message, RateLimit, digest
from engine.notify.http import DEFAULT_TIMEOUT, clip, post_json

# -1: system busy; 45009: over the frequency limit; 45033: too many concurrent calls
BUSY = (-1, 45009, 45033)
LIMITS = {"markdown": 4096, "text": 2048}  # bytes of content WeCom accepts


class WeComChannel(BaseChannel):
    name = "wecom"
    to = "group"
    rate_limit = RateLimit(20, 60)
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "webhook": {"type": "string", "pattern": "^https?://", "description": "the group robot's webhook URL"},
            "msgtype": {"enum": ["markdown", "text"]},
            "timeout": {"type": "number", "exclusiveMinimum": 0},
        },
        "required": ["webhook"],
        "additionalProperties": False,
    }

    def rate_key(self, settings: Mapping[str, Any], recipient: str) -> str:
        return f"wecom:{digest(settings['webhook'])}"

    def send(self, message: Message, settings: Mapping[str, Any]) -> None:
        post_json(settings["webhook"], payload(message, settings.get("msgtype", "markdown")), key=message.key,
                  service="WeCom", timeout=float(settings.get("timeout", DEFAULT_TIMEOUT)), busy_codes=BUSY)


def payload(message: Message, msgtype: str) -> dict[str, Any]:
    if msgtype == "text":
        return {"msgtype": "text", "text": {"content": clip(f"{message.subject}\n{message.text}", LIMITS["text"])}}
    content = f"**{message.subject}**\n{message.markdown or message.text}"
    return {"msgtype": "markdown", "markdown": {"content": clip(content, LIMITS["markdown"])}}


CHANNEL = WeComChannel()


@hookimpl
def jxc_channels() -> list[Any]:
    return [CHANNEL]
