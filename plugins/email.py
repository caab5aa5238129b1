"""Built-in channel `email`: notifications by email over SMTP (stdlib smtplib), one message per recipient.

Settings in app.yaml; the password is read from the environment variable named by `password_env`, never
from YAML:

    plugins:
      email: {host: smtp.exmail.qq.com, port: 587, starttls: true, username: erp@example.com,
              password_env: JXC_SMTP_PASSWORD, sender: "进销存 <erp@example.com>"}

Each message carries a Message-ID made from the notification's key, the same on every attempt, so that a
message sent twice after a crash shows up as one in most mail clients.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, ClassVar

from engine import hookimpl
from engine.notify.channels import BaseChannel, Message, PermanentFailure, TemporaryFailure

TIMEOUT = 30.0


class EmailChannel(BaseChannel):
    name = "email"
    to = "user"
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "host": {"type": "string", "minLength": 1, "description": "the SMTP server"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "default 25"},
            "starttls": {"type": "boolean", "description": "switch to TLS after connecting (port 587)"},
            "ssl": {"type": "boolean", "description": "TLS from the start (port 465)"},
            "username": {"type": "string"},
            "password_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                             "description": "the environment variable that holds the password"},
            "sender": {"type": "string", "minLength": 3, "description": "the From address"},
            "timeout": {"type": "number", "exclusiveMinimum": 0},
        },
        "required": ["host", "sender"],
        "additionalProperties": False,
    }

    def address(self, user: Mapping[str, Any]) -> str | None:
        email = user.get("email")
        return email.strip() if isinstance(email, str) and "@" in email else None

    def rate_key(self, settings: Mapping[str, Any], recipient: str) -> str:
        return f"email:{settings.get('host')}"

    def send(self, message: Message, settings: Mapping[str, Any]) -> None:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = settings["sender"]
        mail["To"] = message.recipient
        mail["Date"] = formatdate(localtime=True)
        mail["Message-ID"] = f"<{message.key}@jxc>"
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(f"<html><body><p>{message.html.replace(chr(10), '<br>')}</p></body></html>",
                                 subtype="html")
        password = None
        if settings.get("password_env"):
            password = os.environ.get(settings["password_env"])
            if password is None:
                raise PermanentFailure(f"the environment variable {settings['password_env']} (email password_env) "
                                       "is not set for the worker")
        host, timeout = settings["host"], float(settings.get("timeout", TIMEOUT))
        port = int(settings.get("port", 465 if settings.get("ssl") else 25))
        try:
            smtp_class = smtplib.SMTP_SSL if settings.get("ssl") else smtplib.SMTP
            with smtp_class(host, port, timeout=timeout) as smtp:
                if settings.get("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                if settings.get("username"):
                    smtp.login(settings["username"], password or "")
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as error:
            raise PermanentFailure(f"the SMTP server {host} refused the login: {_reply(error)}") from None
        except smtplib.SMTPRecipientsRefused as error:
            reasons = "; ".join(f"{who}: {code} {text.decode(errors='replace')}"
                                for who, (code, text) in error.recipients.items())
            later = all(400 <= code < 500 for code, _ in error.recipients.values())  # 4xx: try again later
            failure = TemporaryFailure if later else PermanentFailure
            raise failure(f"the SMTP server refused the recipient ({reasons})") from None
        except smtplib.SMTPResponseException as error:
            failure = TemporaryFailure if 400 <= error.smtp_code < 500 else PermanentFailure
            raise failure(f"the SMTP server {host} answered {_reply(error)}") from None
        except (smtplib.SMTPException, OSError) as error:  # refused, timed out, disconnected
            raise TemporaryFailure(f"cannot send through {host}:{port}: {error or type(error).__name__}") from None


def _reply(error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
    return f"{error.smtp_code} {text}"


CHANNEL = EmailChannel()


@hookimpl
def jxc_channels() -> list[Any]:
    return [CHANNEL]
