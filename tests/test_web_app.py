"""The web foundation: logging in and out, the session cookie, CSRF, the login rate limit, navigation by
permission, the language switch and error pages that never show a trace."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.routing import Route

from engine.hookspecs import hookimpl
from engine.plugins import plugin_manager
from engine.web import app as web_app_module
from engine.web import errors
from engine.web.auth import RateLimiter, hash_password, verify_password
from engine.web.context import render, require_user
from tests.web_helpers import Web, start_on, visible_text


@pytest.fixture
def web(db_engine) -> Iterator[Web]:
    started = start_on(db_engine)
    web = Web(started, secret_key="test-secret")
    web.user("lin", "clerk", full_name="林文员")
    web.user("bo", "buyer")
    web.user("root", "admin")
    yield web
    web.close()


@pytest.mark.both_dbs
def test_pages_need_a_login_and_come_back_after_it(web: Web) -> None:
    first = web.get("/?from=x")
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=%2F%3Ffrom%3Dx"
    response = web.post("/login", {"name": "lin", "password": "pw-lin", "next": "/?from=x"})
    assert response.status_code == 303
    assert response.headers["location"] == "/?from=x"
    home = web.get("/")
    assert home.status_code == 200
    assert "林文员" in home.text


def test_session_cookie_is_signed_http_only_and_same_site(web: Web) -> None:
    response = web.login("lin")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("jxc_session=")
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "lin" not in cookie.split(";")[0].split("=", 1)[1].split(".")[-1]  # the signature part is opaque
    web.client.cookies.set("jxc_session", "eyJ1c2VyIjogInJvb3QifQ==.forged.signature")  # {"user": "root"}
    assert web.get("/").status_code == 303  # a forged cookie logs no one in


def test_wrong_password_or_unknown_user_is_refused_with_one_message(web: Web) -> None:
    for name, password in (("lin", "wrong"), ("nobody", "pw-nobody"), ("", "")):
        response = web.post("/login", {"name": name, "password": password})
        assert response.status_code == 401
        assert "用户名或密码错误" in response.text
    assert web.get("/").status_code == 303


def test_logout_ends_the_session(web: Web) -> None:
    web.login("lin")
    assert web.get("/").status_code == 200
    response = web.post("/logout", token_from="/")
    assert response.status_code == 303
    assert web.get("/").status_code == 303


def test_login_rate_limit_refuses_even_the_right_password(web: Web) -> None:
    for _ in range(5):
        assert web.post("/login", {"name": "lin", "password": "bad"}).status_code == 401
    blocked = web.post("/login", {"name": "lin", "password": "pw-lin"})
    assert blocked.status_code == 429
    assert "登录失败次数过多" in blocked.text
    # another user from the same address is not blocked by lin's failures
    assert web.post("/login", {"name": "bo", "password": "pw-bo"}).status_code == 303


def test_rate_limiter_forgets_failures_after_the_window() -> None:
    now = [1000.0]
    limiter = RateLimiter(limit=2, window=60, clock=lambda: now[0])
    key = ("lin", "127.0.0.1")
    limiter.fail(key)
    limiter.fail(key)
    assert limiter.blocked(key) == 60
    now[0] += 59.5
    assert limiter.blocked(key) == 1
    now[0] += 1
    assert limiter.blocked(key) == 0


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(web: Web) -> None:
    web.login("lin")
    refused = web.client.post("/logout", data={})
    assert refused.status_code == 403
    assert "表单已过期" in refused.text
    assert web.get("/").status_code == 200  # still logged in: the logout did not happen
    wrong = web.client.post("/logout", data={"csrf_token": "guessed"})
    assert wrong.status_code == 403
    by_header = web.client.post("/logout", headers={"X-CSRF-Token": web.token("/")})
    assert by_header.status_code == 303


def test_the_token_from_before_login_is_not_valid_after_it(web: Web) -> None:
    before = web.token("/login")
    web.login("lin")
    assert web.client.post("/logout", data={"csrf_token": before}).status_code == 403


def test_csrf_token_in_a_multipart_form_is_accepted(web: Web) -> None:
    web.login("lin")
    token = web.token("/")
    response = web.client.post("/logout", data={"csrf_token": token}, files={"file": ("a.txt", b"hello")})
    assert response.status_code == 303


def test_navigation_shows_only_what_the_user_may_read_grouped_as_declared(web: Web) -> None:
    web.login("lin")
    page = web.get("/").text
    assert 'data-nav="entity:item"' in page and 'data-nav="entity:category"' in page
    assert 'data-nav="entity:purchase_order"' not in page
    assert "采购" not in visible_text(page)  # lin's roles give no right on the Purchasing group
    web.post("/logout", token_from="/")
    web.login("bo")
    page = web.get("/").text
    text = visible_text(page)
    assert text.index("基础资料") < text.index("采购订单")  # groups in the order the app declares them
    web.post("/logout", token_from="/")
    web.login("root")
    assert 'data-nav="entity:purchase_order"' in web.get("/").text


def test_language_switch_is_remembered(web: Web) -> None:
    web.login("bo")
    assert "采购订单" in web.get("/").text
    response = web.post("/language", {"language": "en", "next": "/"}, token_from="/")
    assert response.status_code == 303 and response.headers["location"] == "/"
    page = web.get("/").text
    assert "Purchase order" in page and "Log out" in page and "采购订单" not in page
    assert '<html lang="en">' in page


def test_language_switch_sends_nowhere_but_this_site(web: Web) -> None:
    response = web.post("/language", {"language": "en", "next": "//evil.example/x"})
    assert response.headers["location"] == "/"
    response = web.post("/login", {"name": "lin", "password": "pw-lin", "next": "https://evil.example/"})
    assert response.headers["location"] == "/"


def test_unknown_page_is_a_404_page_in_the_users_language(web: Web) -> None:
    web.login("lin")
    response = web.get("/no/such/page")
    assert response.status_code == 404
    assert "页面不存在" in response.text
    assert 'data-nav="entity:item"' in response.text  # the navigation is still there


def test_a_method_not_allowed_is_a_page_too(web: Web) -> None:
    web.login("lin")
    response = web.post("/", {}, token_from="/")
    assert response.status_code == 405
    assert "此处不允许该操作" in response.text and "Traceback" not in response.text


def test_a_crash_shows_an_error_page_without_a_trace(db_engine, monkeypatch) -> None:
    async def broken(request: Request):
        raise RuntimeError("secret internals at /srv/jxc/engine.py line 42")

    monkeypatch.setattr(web_app_module, "WEB_MODULES", (*web_app_module.WEB_MODULES, "tests.web_crash_module"))
    module = types.ModuleType("tests.web_crash_module")
    module.routes = lambda: [Route("/crash", broken)]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tests.web_crash_module", module)
    web = Web(start_on(db_engine))
    page = web.get("/crash")
    assert page.status_code == 500
    assert "服务器出错了" in page.text
    for leak in ("secret internals", "Traceback", "RuntimeError", "engine.py"):
        assert leak not in page.text
    # under /api the same handler answers problem+json (the API's own routes are engine.web.api's)
    request = Request({"type": "http", "method": "GET", "path": "/api/item", "headers": [], "query_string": b"",
                       "app": web.app})
    api = errors.server_error(request, RuntimeError("secret internals"))
    assert api.status_code == 500 and api.media_type == "application/problem+json"
    assert json.loads(bytes(api.body))["status"] == 500 and b"secret" not in bytes(api.body)


def test_passwords_are_argon2_hashes() -> None:
    stored = hash_password("秘密-123")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "秘密-123")
    assert not verify_password(stored, "秘密-124")
    assert not verify_password(None, "anything")
    assert not verify_password("not a hash", "anything")


def test_static_files_are_served_locally(web: Web) -> None:
    css = web.get("/static/jxc.css")
    assert css.status_code == 200 and "max-width: 760px" in css.text
    page = web.get("/login").text
    assert "http://" not in page and "https://" not in page  # nothing from a CDN


def test_security_headers_on_pages_and_error_pages(web: Web) -> None:
    for response in (web.get("/login"), web.get("/nowhere"), web.client.post("/logout")):
        assert response.headers["x-frame-options"] == "SAMEORIGIN"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cache-control"] == "no-store"  # business data stays out of shared caches
    assert "no-store" not in web.get("/static/jxc.css").headers.get("cache-control", "")


class PagePlugin:
    """A plugin with a page of its own, drawn in jxc's layout from the plugin's template folder."""

    @hookimpl
    def jxc_web_routes(self, app):
        def weigh(request: Request):
            require_user(request)
            return render(request, "scale/weigh.html", grams=1250)

        return [Route("/plugins/scale/weigh", weigh)]

    @hookimpl
    def jxc_template_folders(self):
        return [self.folder]

    def __init__(self, folder: Path) -> None:
        self.folder = folder


def test_plugin_pages_are_served_in_the_layout_with_their_own_templates(db_engine, tmp_path) -> None:
    (tmp_path / "scale").mkdir()
    (tmp_path / "scale" / "weigh.html").write_text(
        '{% extends "base.html" %}{% block content %}<p id="w">{{ grams }} g {{ _("Home") }}</p>{% endblock %}',
        encoding="utf-8")
    web = Web(start_on(db_engine, manager=plugin_manager({"scale": PagePlugin(tmp_path)}, entry_points=False)))
    web.user("lin", "clerk")
    assert web.get("/plugins/scale/weigh").status_code == 303  # the plugin's page needs a login like any other
    web.login("lin")
    page = web.get("/plugins/scale/weigh")
    assert page.status_code == 200
    assert '<p id="w">1250 g 首页</p>' in page.text and 'data-nav="entity:item"' in page.text


def test_a_user_changes_their_password(web: Web) -> None:
    web.login("lin")
    assert 'href="/account/password"' in web.get("/").text
    for form, message in (({"current": "wrong", "new": "new-pass-1", "again": "new-pass-1"}, "当前密码不正确"),
                          ({"current": "pw-lin", "new": "short", "again": "short"}, "至少 8 个字符"),
                          ({"current": "pw-lin", "new": "new-pass-1", "again": "new-pass-2"}, "两次输入的新密码不一致")):
        refused = web.post("/account/password", form, token_from="/")
        assert refused.status_code == 422 and message in refused.text
    done = web.post("/account/password", {"current": "pw-lin", "new": "new-pass-1", "again": "new-pass-1"},
                    token_from="/")
    assert done.status_code == 303
    assert "密码已修改" in web.get(done.headers["location"]).text
    web.post("/logout", token_from="/")
    assert web.post("/login", {"name": "lin", "password": "pw-lin"}).status_code == 401
    web.login("lin", "new-pass-1")


def test_guessing_the_current_password_is_rate_limited(web: Web) -> None:
    web.login("lin")
    for _ in range(5):
        assert web.post("/account/password", {"current": "guess", "new": "new-pass-1", "again": "new-pass-1"},
                        token_from="/").status_code == 422
    blocked = web.post("/account/password", {"current": "pw-lin", "new": "new-pass-1", "again": "new-pass-1"},
                       token_from="/")
    assert blocked.status_code == 429
    web.post("/logout", token_from="/")
    assert web.post("/login", {"name": "lin", "password": "pw-lin"}).status_code == 429  # logins too


def test_a_password_change_ends_the_other_sessions_of_the_user(web: Web) -> None:
    other = Web(web.started)  # the same user on another device
    other.login("lin")
    web.login("lin")
    web.post("/account/password", {"current": "pw-lin", "new": "new-pass-1", "again": "new-pass-1"}, token_from="/")
    assert web.get("/").status_code == 200  # the session that changed it goes on
    assert other.get("/").status_code == 303  # the other one has to log in again
    other.login("lin", "new-pass-1")


@pytest.mark.both_dbs
def test_a_deactivated_user_is_logged_out(web: Web) -> None:
    from engine.users import deactivate

    web.login("lin")
    assert web.get("/").status_code == 200
    deactivate(web.started.engine, web.started.records.schema, "lin")
    assert web.get("/").status_code == 303
    assert web.post("/login", {"name": "lin", "password": "pw-lin"}).status_code == 401
