"""Channels against real servers on loopback: WeCom and DingTalk robots (payloads, DingTalk's signature
computed here independently), email through an aiosmtpd server; their settings checked at load with a
located message; and a third-party channel through the jxc_channels hook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

import pytest

from dsl.problems import CheckFailed
from engine import hookimpl
from engine.notify.channels import BaseChannel, Message, PermanentFailure, TemporaryFailure
from engine.plugins import channel_registry, channels, plugin_manager
from engine.scheduler import Worker
from plugins import dingtalk, email, wecom
from tests.notify_helpers import alert_app, load, rows, setup_records

pytest_plugins = ["tests.notify_fixtures"]

MESSAGE = Message(id=7, key="k" * 64, channel="wecom", recipient="group", subject="库存不足: 苹果",
                  text="苹果 可用 5 *特价*", html="苹果 可用 5 *特价*", markdown="苹果 可用 5 \\*特价\\*",
                  url="https://erp.example.com/e/stock_balance/1")


def test_wecom_posts_markdown_or_text_to_the_robot(webhook):
    wecom.CHANNEL.send(MESSAGE, {"webhook": webhook.url("/cgi-bin/webhook/send?key=abc")})
    wecom.CHANNEL.send(MESSAGE, {"webhook": webhook.url("/cgi-bin/webhook/send?key=abc"), "msgtype": "text"})
    first, second = webhook.posts
    assert first["path"] == "/cgi-bin/webhook/send" and first["query"] == {"key": ["abc"]}
    assert first["json"] == {"msgtype": "markdown", "markdown": {"content": "**库存不足: 苹果**\n苹果 可用 5 \\*特价\\*"}}
    assert second["json"] == {"msgtype": "text", "text": {"content": "库存不足: 苹果\n苹果 可用 5 *特价*"}}
    assert first["headers"]["Idempotency-Key"] == "k" * 64


def test_wecom_errors_are_temporary_or_permanent(webhook):
    settings = {"webhook": webhook.url("/send?key=abc")}
    webhook.mode = "busy"
    with pytest.raises(TemporaryFailure, match="errcode 45009"):
        wecom.CHANNEL.send(MESSAGE, settings)
    webhook.mode = "refuse"
    with pytest.raises(PermanentFailure, match="errcode 93000: invalid webhook url"):
        wecom.CHANNEL.send(MESSAGE, settings)
    webhook.mode = "500"
    with pytest.raises(TemporaryFailure, match="WeCom answered HTTP 500"):
        wecom.CHANNEL.send(MESSAGE, settings)
    webhook.stop()
    with pytest.raises(TemporaryFailure, match="cannot reach WeCom"):
        wecom.CHANNEL.send(MESSAGE, settings)


def test_a_long_message_is_cut_to_what_wecom_accepts():
    long = Message(id=1, key="k", channel="wecom", recipient="group", subject="长", text="字" * 3000)
    content = wecom.payload(long, "markdown")["markdown"]["content"]
    assert len(content.encode()) <= 4096 and content.endswith("…")


def test_dingtalk_signs_the_webhook_with_hmac_sha256(webhook, monkeypatch):
    secret = "SEC0123456789abcdef"
    monkeypatch.setenv("JXC_TEST_DINGTALK_SECRET", secret)
    dingtalk.CHANNEL.send(MESSAGE, {"webhook": webhook.url("/robot/send?access_token=t0k"),
                                    "secret_env": "JXC_TEST_DINGTALK_SECRET"})
    post = webhook.posts[0]
    assert post["path"] == "/robot/send" and post["query"]["access_token"] == ["t0k"]
    timestamp = post["query"]["timestamp"][0]
    expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(),
                                         digestmod=hashlib.sha256).digest()).decode()
    assert post["query"]["sign"] == [expected]  # parse_qs undid the URL encoding
    digest = hmac.new(secret.encode(), f"1700000000000\n{secret}".encode(), digestmod=hashlib.sha256).digest()
    assert dingtalk.signed_url("http://x/robot?access_token=t", secret, 1700000000000) == (
        "http://x/robot?access_token=t&timestamp=1700000000000&sign="
        + urllib.parse.quote_plus(base64.b64encode(digest).decode()))  # the URL-encoded base64, as DingTalk asks
    assert post["json"] == {"msgtype": "markdown", "markdown": {
        "title": "库存不足: 苹果", "text": "#### 库存不足: 苹果\n\n苹果 可用 5 \\*特价\\*"}}


def test_dingtalk_without_its_secret_in_the_environment_is_a_permanent_failure(webhook, monkeypatch):
    monkeypatch.delenv("JXC_NO_SUCH_SECRET", raising=False)
    with pytest.raises(PermanentFailure, match=r"JXC_NO_SUCH_SECRET \(dingtalk secret_env\) is not set"):
        dingtalk.CHANNEL.send(MESSAGE, {"webhook": webhook.url("/robot/send"), "secret_env": "JXC_NO_SUCH_SECRET"})
    assert webhook.posts == []


def test_email_is_sent_over_smtp_with_text_html_and_a_stable_message_id(smtp_server, monkeypatch):
    server, port = smtp_server
    monkeypatch.setenv("JXC_TEST_SMTP_PASSWORD", "secret")
    settings = {"host": "127.0.0.1", "port": port, "sender": "进销存 <erp@example.com>"}
    message = Message(id=3, key="abc123", channel="email", recipient="li@example.com", subject="应收逾期: 王五",
                      text="王五 <逾期>\n请跟进", html="王五 &lt;逾期&gt;\n请跟进")
    email.CHANNEL.send(message, settings)
    mail = server.messages[0]
    assert (mail["To"], mail["Subject"], mail["Message-ID"]) == ("li@example.com", "应收逾期: 王五", "<abc123@jxc>")
    assert "erp@example.com" in mail["From"]
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == "王五 <逾期>\n请跟进"
    assert "王五 &lt;逾期&gt;<br>请跟进" in mail.get_body(("html",)).get_content()


def test_email_failures_are_sorted(smtp_server, monkeypatch):
    server, port = smtp_server
    message = Message(id=3, key="k", channel="email", recipient="nobody@example.com", subject="s", text="t")
    server.reject = "550 no such user"
    with pytest.raises(PermanentFailure, match=r"refused the recipient \(nobody@example.com: 550 no such user"):
        email.CHANNEL.send(message, {"host": "127.0.0.1", "port": port, "sender": "erp@example.com"})
    server.reject = "451 try again later"
    with pytest.raises(TemporaryFailure):
        email.CHANNEL.send(message, {"host": "127.0.0.1", "port": port, "sender": "erp@example.com"})
    monkeypatch.delenv("JXC_NO_SUCH_PASSWORD", raising=False)
    with pytest.raises(PermanentFailure, match="JXC_NO_SUCH_PASSWORD"):
        email.CHANNEL.send(message, {"host": "127.0.0.1", "port": port, "sender": "erp@example.com",
                                     "username": "erp", "password_env": "JXC_NO_SUCH_PASSWORD"})
    closed = port + 1 if port < 65535 else port - 1
    with pytest.raises(TemporaryFailure, match=r"cannot send through 127\.0\.0\.1"):
        email.CHANNEL.send(message, {"host": "127.0.0.1", "port": closed, "sender": "erp@example.com",
                                     "timeout": 2})


@pytest.mark.both_dbs
def test_an_alert_reaches_email_and_both_robots_through_the_worker(tmp_path, db_engine, webhook, smtp_server,
                                                                   monkeypatch):
    server, port = smtp_server
    monkeypatch.setenv("JXC_TEST_DINGTALK_SECRET", "SECabc")
    folder = alert_app(tmp_path, overdue_channels="inbox, email, wecom, dingtalk", channels={
        "email": {"host": "127.0.0.1", "port": port, "sender": "erp@example.com"},
        "wecom": {"webhook": webhook.url("/wecom?key=1")},
        "dingtalk": {"webhook": webhook.url("/dingtalk?access_token=2"), "secret_env": "JXC_TEST_DINGTALK_SECRET"}})
    records = setup_records(folder, db_engine)
    records.system().create("receivable", {"customer": "王五", "due_date": "2026-03-01", "balance": "100"})
    report = Worker(records, name="w1").run_pending().delivery
    assert report.sent == 4  # li and boss by email, both robots
    assert [row["recipient"] for row in rows(records, "outbox", status="dead")] == ["user:wang"]  # no address
    assert sorted(mail["To"] for mail in server.messages) == ["boss@example.com", "li@example.com"]
    assert sorted(post["path"] for post in webhook.posts) == ["/dingtalk", "/wecom"]
    assert server.messages[0]["Subject"] == "应收逾期: #1"
    assert Worker(records, name="w2").run_pending().delivery.sent == 0  # nothing twice
    assert len(rows(records, "inbox")) == 3


def test_bad_channel_settings_are_located_errors_at_load(tmp_path):
    folder = alert_app(tmp_path, channels={"wecom": {"webhok": "x"}, "email": {"host": "smtp.example.com",
                                                                           "sender": "a@b.c", "port": 0}})
    with pytest.raises(CheckFailed) as caught:
        load(folder)
    text = str(caught.value)
    assert "apps/alerting/app.yaml:6:" in text and "plugin wecom: 'webhook' is a required property" in text
    assert "plugin wecom: Additional properties are not allowed ('webhok' was unexpected)" in text
    assert "plugin email: 0 is less than the minimum of 1" in text


class Sms(BaseChannel):
    name = "sms"
    to = "user"
    sent: list[Message] = []  # noqa: RUF012 (a record for the test)

    def address(self, user):
        return f"+86-{user['name']}"

    def send(self, message, settings):
        self.sent.append(message)


class SmsPlugin:
    @hookimpl
    def jxc_channels(self):
        return [Sms()]


def test_a_plugin_adds_a_channel_that_alerts_can_use(tmp_path):
    manager = plugin_manager({"sms_gateway": SmsPlugin()}, entry_points=False)
    assert "sms" in channels(manager) and channel_registry(manager)["sms"].plugin == "sms_gateway"
    folder = alert_app(tmp_path, overdue_channels="sms")
    app, _ = load(folder, manager)
    assert app.alerts["overdue"].channels == ("sms",)


def test_two_plugins_cannot_define_the_same_channel():
    class Other:
        @hookimpl
        def jxc_channels(self):
            return [Sms()]

    with pytest.raises(ValueError, match="notification channel sms is defined twice"):
        channel_registry(plugin_manager({"a": SmsPlugin(), "b": Other()}, entry_points=False))


def test_the_channel_settings_in_the_docs_are_valid(tmp_path):
    from tests.test_app_format_doc import examples

    folder = tmp_path / "apps" / "doc_alerts"
    folder.mkdir(parents=True)
    (folder / "app.yaml").write_text(examples()["apps/doc_alerts/app.yaml"], encoding="utf-8")
    app, _ = load(folder)  # with every channel's settings schema
    assert set(app.plugins) >= {"notify", "email", "wecom", "dingtalk"}
