"""`jxc serve APP`: the web UI on uvicorn, with the alert scheduler inside; and `jxc password` to set a login.

Start-up migrates the database (like every command), loads the demo data with --demo, and on the first start
creates an `admin` account: its password comes from $JXC_ADMIN_PASSWORD, or is generated and printed once.
Session cookies are signed with $JXC_SECRET_KEY, else with a key kept in APP/data/secret_key (made on the
first start), so logins survive a restart.
"""

from __future__ import annotations

import argparse
import errno
import getpass
import os
import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.context import ADMIN_ROLE

ADMIN_NAME = "admin"
SCHEDULER_SECONDS = 5.0


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="run the app's web UI (and its scheduled alerts) until stopped",
        description="Start the web UI of an app: brings the database up to date, creates an admin account on the "
                    "first start (password from $JXC_ADMIN_PASSWORD, else generated and printed once), runs "
                    "scheduled alerts and sends notifications in the background. Stop with Ctrl-C.",
        epilog="Example: jxc serve apps/food --demo")
    serve.add_argument("app", metavar="APP", help="the app's folder, e.g. apps/food")
    serve.add_argument("--db", metavar="URL", help="the database; default: $JXC_DB, else APP/data/jxc.sqlite")
    serve.add_argument("--demo", action="store_true", help="load the app's demo data first (skipped if loaded)")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1; "
                                                           "0.0.0.0 for every network)")
    serve.add_argument("--port", type=int, default=8000, help="the port to listen on (default 8000)")
    serve.add_argument("--https", action="store_true",
                       help="the site is reached over HTTPS (behind a proxy): send the session cookie only there")
    password = commands.add_parser(
        "password", help="set a user's password for logging in to the web UI",
        description="Set the password a user logs in with. The password is asked for (typed twice), or taken "
                    "from $JXC_PASSWORD.",
        epilog="Example: jxc password zhang --app apps/food")
    password.add_argument("name", metavar="NAME", help="the user's login name")
    password.add_argument("--app", metavar="APP", required=True, help="the app's folder, e.g. apps/food")
    password.add_argument("--db", metavar="URL", help="the database; default: $JXC_DB, else APP/data/jxc.sqlite")


def run(args: argparse.Namespace, open_app: Callable[[argparse.Namespace], Any], error: type[Exception]) -> int:
    if args.command == "password":
        return _password(args, open_app, error)
    return _serve(args, open_app, error)


def _serve(args: argparse.Namespace, open_app: Callable[[argparse.Namespace], Any], error: type[Exception]) -> int:
    import uvicorn

    from engine.web.app import create_app

    if not 1 <= args.port <= 65535:
        raise error(f"--port must be between 1 and 65535, not {args.port}")
    _check_port(args.host, args.port, error)
    started = open_app(args)
    try:
        if args.demo:
            from engine.demo import DemoError, load_demo

            try:
                report = load_demo(started.records, progress=lambda m: print(f"... {m}", file=sys.stderr))
            except DemoError as problem:
                raise error(str(problem)) from None
            print(f"demo data: {report.total_created} records created" if report.total_created
                  else "demo data: already loaded")
        login = ensure_admin(started, os.environ.get("JXC_ADMIN_PASSWORD"))
        web = create_app(started, secret_key=secret_key(Path(args.app)), https_only=args.https,
                         scheduler_seconds=SCHEDULER_SECONDS)
        shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        print(f"jxc serves {started.app.name} at http://{shown_host}:{args.port}/  (Ctrl-C stops it)")
        print(login)
        sys.stdout.flush()
        uvicorn.run(web, host=args.host, port=args.port, log_level="info", proxy_headers=args.https)
    finally:
        started.close()
    return 0


def _check_port(host: str, port: int, error: type[Exception]) -> None:
    """A port in use is said plainly, before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as problem:
            if problem.errno == errno.EADDRINUSE:
                raise error(f"port {port} is already in use; choose another with --port") from None
            raise error(f"cannot listen on {host}:{port}: {problem.strerror}") from None


def ensure_admin(started: Any, password: str | None) -> str:
    """Create the admin account when no active user holds the admin role; say how to log in."""
    from engine.users import add_user, has_admin, set_password, set_roles
    from engine.web.auth import hash_password

    engine, app, schema = started.engine, started.app, started.records.schema
    if has_admin(engine, schema):
        return "log in with your account (an administrator adds users: jxc user add, jxc password)"
    chosen = password or secrets.token_urlsafe(12)
    users = schema.users
    with engine.connect() as connection:
        exists = connection.execute(select(users.c.id).where(users.c.name == ADMIN_NAME)).first() is not None
    if exists:  # an account named admin without the role (or deactivated): make it the administrator again
        from sqlalchemy import update

        with engine.begin() as connection:
            connection.execute(update(users).where(users.c.name == ADMIN_NAME).values(active=True))
        set_roles(engine, schema, ADMIN_NAME, [ADMIN_ROLE])
        set_password(engine, schema, ADMIN_NAME, hash_password(chosen))
    else:
        add_user(engine, app, schema, ADMIN_NAME, roles=[ADMIN_ROLE], full_name="管理员",
                 password_hash=hash_password(chosen))
    if password:
        return f"log in as '{ADMIN_NAME}' with the password in $JXC_ADMIN_PASSWORD"
    return (f"log in as '{ADMIN_NAME}' with the password {chosen}  (shown only this once; change it with "
            f"'jxc password {ADMIN_NAME} --app {app.source_dir or 'APP'}')")


def secret_key(folder: Path) -> str:
    """$JXC_SECRET_KEY, else the key kept in APP/data/secret_key (created, readable by its owner only)."""
    given = os.environ.get("JXC_SECRET_KEY")
    if given:
        return given
    path = folder / "data" / "secret_key"
    if path.is_file():
        text = path.read_text(encoding="utf-8").strip()
        if text:
            return text
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(key + "\n")
    return key


def _password(args: argparse.Namespace, open_app: Callable[[argparse.Namespace], Any], error: type[Exception]) -> int:
    from engine.errors import NotFound
    from engine.users import set_password
    from engine.web.auth import hash_password

    password = os.environ.get("JXC_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            raise error("type the password at a terminal, or give it in $JXC_PASSWORD")
        password = getpass.getpass(f"new password for {args.name}: ")
        if password != getpass.getpass("again: "):
            raise error("the two passwords differ; nothing changed")
    if len(password) < 8:
        raise error("a password has at least 8 characters; nothing changed")
    started = open_app(args)
    try:
        set_password(started.engine, started.records.schema, args.name, hash_password(password))
    except NotFound as problem:
        raise error(f"{problem.message}; add them first with 'jxc user add'") from None
    finally:
        started.close()
    print(f"password of {args.name} set")
    return 0
