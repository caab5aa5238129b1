"""Real servers on loopback for the notification tests, and a small app with alerts.

- `WebhookServer`: a threaded HTTP server that records every POST (path, query, headers, JSON) and answers
  like a chat robot (`{"errcode": 0}`), or with HTTP 500, or with a robot error code; `stop()` closes the
  port (connection refused) and `start()` opens the same port again.
- `SmtpRecorder`: the handler of an aiosmtpd server on loopback, collecting the messages it receives.
- `alert_app(...)`: an app folder with stock settings, receivables and alerts, whose channel settings point
  at those servers; `setup_records(...)`: its Records on `db_engine` with users and a fixed clock.

The fixtures that start the servers are in tests/notify_fixtures.py.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import textwrap
import threading
import urllib.parse
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from dsl.loader import load_app
from engine import plugins as plugin_support
from engine.context import Clock
from engine.migrate import migrate
from engine.notify.tables import notify_tables
from engine.records import Records
from engine.users import add_user

NOW = dt.datetime(2026, 3, 5, 7, 0)


class WebhookServer:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.mode = "ok"  # ok | 500 | busy (errcode 45009) | refuse (errcode 93000)
        self.lock = threading.Lock()
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None
        self.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parsed = urllib.parse.urlsplit(self.path)
                with recorder.lock:
                    mode = recorder.mode
                    if mode != "500":
                        recorder.posts.append({"path": parsed.path, "query": urllib.parse.parse_qs(parsed.query),
                                               "headers": dict(self.headers), "json": json.loads(body)})
                if mode == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                answer = {"ok": {"errcode": 0, "errmsg": "ok"}, "busy": {"errcode": 45009, "errmsg": "freq"},
                          "refuse": {"errcode": 93000, "errmsg": "invalid webhook url"}}[mode]
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpRecorder:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.reject: str | None = None  # an SMTP reply to give to RCPT TO, e.g. "550 no such user"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.reject:
            return self.reject
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


APP = """\
name: alerting
title: 预警测试
stock: {{item: item, warehouse: warehouse, safety_stock: safety_stock}}
plugins:
  notify: {{base_url: "https://erp.example.com", max_attempts: 4}}
{channels}
entities:
  item:
    label: 物料
    key: code
    title: name
    fields: {{code: string, name: string, safety_stock: {{type: decimal, scale: 3}}}}
  warehouse:
    key: code
    fields: {{code: string}}
  receivable:
    label: 应收款
    fields:
      customer: string
      due_date: date
      balance: money
      state: {{type: choice, options: {{open: 未结, closed: 已结}}, default: '"open"'}}
roles:
  purchaser: {{permissions: {{item: all}}}}
  finance: {{permissions: {{receivable: all}}}}
alerts:
  low_stock:
    label: 库存不足
    scope: stock_balance
    condition: available < item.safety_stock
    schedule: daily 08:00
    recipients: {{roles: [purchaser]}}
    channels: [{low_stock_channels}]
    message: "{{{{ record.item }}}} 在 {{{{ record.warehouse }}}} 可用 {{{{ record.available }}}}，安全库存 {{{{ record.item.safety_stock }}}}。{{{{ link }}}}"
  overdue:
    label: 应收逾期
    scope: receivable
    condition: due_date < TODAY() AND balance > 0
    trigger: change
    {repeat}
    recipients: {{roles: [finance], users: [boss]}}
    channels: [{overdue_channels}]
    message: "{{{{ record.customer }}}} 的应收款 {{{{ record.balance }}}} 元已逾期（{{{{ record.state }}}}）"
"""


def alert_app(root: Path, *, channels: dict[str, dict[str, Any]] | None = None, low_stock_channels: str = "inbox",
              overdue_channels: str = "inbox", repeat: str | None = None, extra: str = "") -> Path:
    settings = "".join(f"  {name}: {json.dumps(values)}\n" for name, values in (channels or {}).items())
    text = APP.format(channels=settings.rstrip("\n"), low_stock_channels=low_stock_channels,
                      overdue_channels=overdue_channels, repeat=f"repeat: {repeat}" if repeat else "")
    folder = root / "apps" / "alerting"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.yaml").write_text(text + textwrap.dedent(extra), encoding="utf-8")
    return folder


def load(folder: Path, manager: Any = None):
    manager = manager or plugin_support.plugin_manager(entry_points=False)
    app = load_app(folder, registry=plugin_support.formula_registry(manager),
                   channels=plugin_support.channels(manager), plugins=plugin_support.settings_schemas(manager),
                   always_on=plugin_support.always_on(manager))
    return app, manager


def setup_records(folder: Path, engine: Any, *, manager: Any = None, now: dt.datetime = NOW) -> Records:
    """The app's Records on `engine` (migrated), time fixed at `now`, with users zhang (purchaser, email),
    li (finance, email), wang (finance, no email) and boss (no role, named by the overdue alert)."""
    app, manager = load(folder, manager)
    records = Records(app, engine, plugins=manager, clock=Clock(app.timezone, fixed=now))
    migrate(app, engine)
    for name, roles, email in (("zhang", ["purchaser"], "zhang@example.com"), ("li", ["finance"], "li@example.com"),
                               ("wang", ["finance"], None), ("boss", [], "boss@example.com")):
        add_user(engine, app, records.schema, name, roles=roles, email=email, full_name=name.title())
    return records


def add_balances(records: Records, rows: list[tuple[str, str, str]]) -> dict[str, int]:
    """Items (code, safety stock) with one balance each in warehouse WH1 (available): {code: balance id}."""
    system = records.system()
    warehouse = system.create("warehouse", {"code": "WH1"})["id"]
    balance = records.schema.stock["balance"]
    items = {code: system.create("item", {"code": code, "name": f"物料{code}", "safety_stock": safety})["id"]
             for code, safety, _ in rows}
    ids = {}
    with records.engine.begin() as connection:
        for code, _, available in rows:
            ids[code] = connection.execute(insert(balance).values(
                item=items[code], warehouse=warehouse, batch_key=0, on_hand=available, reserved=0,
                available=available, value=0).returning(balance.c.id)).scalar_one()
    return ids


def set_available(records: Records, balance_id: int, available: str) -> None:
    from sqlalchemy import update

    balance = records.schema.stock["balance"]
    with records.engine.begin() as connection:
        connection.execute(update(balance).where(balance.c.id == balance_id).values(available=available))


def rows(records: Records, table: str, **where: Any) -> list[dict[str, Any]]:
    found = getattr(notify_tables(records.schema), table)
    query = select(found).order_by(*found.primary_key.columns)
    for key, value in where.items():
        query = query.where(found.c[key] == value)
    with records.engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]
