"""`jxc serve`: the first admin account, the session key kept across restarts, the scheduler running inside
the served app, and the real command serving pages until Ctrl-C."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from engine.cli import main
from engine.context import Clock
from engine.notify.inbox import messages
from engine.scheduler import Worker, jobs
from engine.users import load_user
from engine.web.serve import ensure_admin, secret_key
from tests.web_helpers import Web, app_folder, start_on

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_first_start_creates_the_admin_with_the_given_password_once(db_engine) -> None:
    started = start_on(db_engine)
    said = ensure_admin(started, "s3cret-pass")
    assert "JXC_ADMIN_PASSWORD" in said and "s3cret-pass" not in said  # a given password is never printed
    web = Web(started)
    web.login("admin", "s3cret-pass")
    assert 'data-nav="entity:purchase_order"' in web.get("/").text  # the admin sees everything
    assert "log in with your account" in ensure_admin(started, "another")  # the second start changes nothing
    web.client.cookies.clear()
    web.login("admin", "s3cret-pass")


def test_a_generated_admin_password_is_printed_and_works(db_engine) -> None:
    started = start_on(db_engine)
    said = ensure_admin(started, None)
    password = re.search(r"with the password (\S+)", said)
    assert password and len(password.group(1)) >= 12
    Web(started).login("admin", password.group(1))


def test_session_key_is_kept_in_the_data_folder_unless_given(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("JXC_SECRET_KEY", raising=False)
    first = secret_key(tmp_path)
    assert len(first) >= 40 and secret_key(tmp_path) == first
    assert oct((tmp_path / "data" / "secret_key").stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("JXC_SECRET_KEY", "from-the-environment")
    assert secret_key(tmp_path) == "from-the-environment"


@pytest.mark.both_dbs
def test_scheduled_alert_runs_inside_the_served_app(db_engine) -> None:
    started = start_on(db_engine)
    web = Web(started, scheduler_seconds=0.1)
    web.user("lin", "clerk")
    started.records.system().create("item", {"code": "F1", "name": "赠品袋", "price": "0"})
    lin = load_user(started.engine, started.app, started.records.schema, "lin")
    now = started.records.clock.now()
    # the server was down at 07:30: the job's run is due, and the served app's worker must do it
    Worker(started.records, clock=Clock(started.app.timezone, fixed=now - dt.timedelta(days=2))).sync_jobs(
        now - dt.timedelta(days=2))
    assert messages(started.records, lin) == []
    with web.client:  # the app's lifespan: the scheduler starts with it and stops with it
        deadline = time.monotonic() + 30
        while not messages(started.records, lin) and time.monotonic() < deadline:
            time.sleep(0.1)
        inbox = messages(started.records, lin)
        assert [m["body"] for m in inbox] == ["赠品袋 没有定价"]
        assert any(t.name == "jxc-worker" and t.is_alive() for t in threading.enumerate())
    job = next(j for j in jobs(started.engine, started.records.schema) if j["name"] == "alert:free_items")
    assert job["last_run_at"] is not None and job["next_run_at"] > now
    assert not any(t.name == "jxc-worker" and t.is_alive() for t in threading.enumerate())  # stopped cleanly


def test_serve_refuses_a_port_in_use_with_a_message(capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(app_folder()), "--port", str(port)]) == 1
    assert f"port {port} is already in use" in capsys.readouterr().err


def test_jxc_serve_serves_until_interrupted(tmp_path) -> None:
    port = free_port()
    env = {**os.environ, "JXC_ADMIN_PASSWORD": "admin-pass-1", "JXC_SECRET_KEY": "k" * 40}
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main())", "serve",
         str(app_folder()), "--db", f"sqlite:///{tmp_path / 'served.sqlite'}", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(120, process.kill)  # a server that never says it started fails, not hangs
    watchdog.start()
    try:
        output = []
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
        text = "".join(output)
        assert f"at http://127.0.0.1:{port}/" in text
        assert "log in as 'admin' with the password in $JXC_ADMIN_PASSWORD" in text
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as browser:
            login = browser.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert token
            answer = browser.post("/login", data={"csrf_token": token.group(1), "name": "admin",
                                                  "password": "admin-pass-1"})
            assert answer.status_code == 303
            assert browser.get("/e/item").status_code == 200
    finally:
        watchdog.cancel()
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=60)[0]
    assert process.returncode == 0, rest
    assert "Application shutdown complete" in rest


def test_jxc_password_sets_the_login_of_a_user(tmp_path, monkeypatch, capsys) -> None:
    from engine.startup import start

    url = f"sqlite:///{tmp_path / 'users.sqlite'}"
    folder = str(app_folder())
    assert main(["user", "add", "lin", "--role", "clerk", "--app", folder, "--db", url]) == 0
    monkeypatch.setenv("JXC_PASSWORD", "short")
    assert main(["password", "lin", "--app", folder, "--db", url]) == 1
    assert "at least 8 characters" in capsys.readouterr().err
    monkeypatch.setenv("JXC_PASSWORD", "long-enough-1")
    assert main(["password", "nobody", "--app", folder, "--db", url]) == 1
    assert "there is no user 'nobody'" in capsys.readouterr().err
    assert main(["password", "lin", "--app", folder, "--db", url]) == 0
    started = start(folder, url)
    try:
        Web(started).login("lin", "long-enough-1")
    finally:
        started.close()
