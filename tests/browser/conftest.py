"""Browser tests: the system Chromium (/usr/bin/chromium, tools/ensure_chromium.sh installs it) driven by
Playwright against a real `jxc serve` of apps/food with its demo data, on a fresh SQLite database and a free
loopback port. Screenshots of the key pages go to test-artifacts/screenshots/.

One server for the whole run (starting it and loading the demo takes seconds); the tests use different documents
so their order does not matter. Each module marks itself `browser` and joins the xdist group "browser", so that
`make test` (-n 2 --dist loadgroup) runs them in one worker with one server.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOOD = ROOT / "apps" / "food"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = ROOT / "test-artifacts" / "screenshots"
ADMIN_PASSWORD = "admin-pass-browser"
USERS = {"buyer": ("purchaser", "采购员小赵"), "manager": ("purchase_manager", "采购经理钱")}
PHONE = {"width": 375, "height": 740}


@dataclass
class Server:
    url: str
    db: str

    def password(self, name: str) -> str:
        return ADMIN_PASSWORD if name == "admin" else f"pw-{name}-browser"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _prepare(db: str) -> None:
    """The demo data and two users with passwords, written before the server starts."""
    from engine.demo import load_demo
    from engine.startup import start
    from engine.users import add_user
    from engine.web.auth import hash_password

    started = start(FOOD, db)
    try:
        load_demo(started.records)
        for name, (role, full_name) in USERS.items():
            add_user(started.engine, started.app, started.records.schema, name, roles=[role], full_name=full_name,
                     password_hash=hash_password(f"pw-{name}-browser"))
    finally:
        started.engine.dispose()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'food.sqlite'}"
    _prepare(db)
    port = _free_port()
    env = {**os.environ, "JXC_ADMIN_PASSWORD": ADMIN_PASSWORD, "JXC_SECRET_KEY": "b" * 40}
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main())", "serve", str(FOOD),
         "--db", db, "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(120, process.kill)  # a server that never says it started fails, not hangs
    watchdog.start()
    output: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "Application startup complete" in line:
                break
        else:
            pytest.fail("jxc serve stopped before serving:\n" + "".join(output))
        watchdog.cancel()
        # keep reading what the server logs, so that it never blocks on a full pipe
        threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True).start()
        yield Server(f"http://127.0.0.1:{port}", db)
    finally:
        watchdog.cancel()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    tracebacks = [line for line in output if "Traceback" in line]
    assert not tracebacks, "the server logged an error:\n" + "".join(output[-80:])


# Module scope: Playwright's sync API keeps an event loop running in this thread until it stops, which would
# break any later test on the same worker that starts its own loop (asyncio.run, another Playwright).
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run tools/ensure_chromium.sh (Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def screenshot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def login(page: Any, server: Server, name: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", server.password(name))
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"^(?!.*/login).*$"))


def new_page(browser: Any, server: Server, name: str, **options: Any) -> Any:
    """A page in a browser context of its own (own cookies), logged in as `name`."""
    context = browser.new_context(locale="zh-CN", **options)
    context.set_default_timeout(15000)
    page = context.new_page()
    login(page, server, name)
    return page


@pytest.fixture(scope="session")
def books(server: Server) -> Iterator[Any]:
    """The served database read from the test (SQLite in WAL mode: the server keeps writing meanwhile)."""
    from engine.startup import start

    started = start(FOOD, server.db)
    yield started
    started.engine.dispose()


def choose(page: Any, box: str, text: str) -> None:
    """Type into a link box and take the suggestion showing `text`, as a user does."""
    page.locator(f'[id="{box}"]').fill(text)
    option = page.locator(f'[id="{box}"] ~ .lookup-list li[role=option]', has_text=text).first
    option.wait_for()
    option.dispatch_event("mousedown")


def open_scan_page(browser: Any, server: Server, mode: str = "receive") -> tuple[Any, Any]:
    """A phone (375 px) logged in as the admin on a scan page, its service worker running and the item list saved
    for scanning offline."""
    page = new_page(browser, server, "admin", viewport=PHONE, has_touch=True, service_workers="allow")
    page.goto(f"{server.url}/m/{mode}")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null || "
                           "navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("() => localStorage.getItem('jxc-mobile-items') !== null")
    return page.context, page


def scan(page: Any, code: str) -> None:
    """What a keyboard-wedge scanner does: type the code into the focused box and press Enter."""
    page.locator("#scan").focus()
    page.keyboard.type(code)
    page.keyboard.press("Enter")
