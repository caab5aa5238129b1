"""`jxc token create|list|revoke APP`: API tokens for integrations (engine.web.tokens)."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

from engine.errors import ServiceError

EXAMPLE = "jxc token create apps/food --user erp --role purchaser --name 'ERP sync' --expires 90"


def add_commands(commands: argparse._SubParsersAction) -> None:
    token = commands.add_parser(
        "token", help="create, list and revoke API tokens (for programs using the REST API)",
        description="An API token lets a program use the REST API (/api) as one user with one of their roles. "
                    "It is shown once when created; jxc keeps only a hash of it. Send it as the header "
                    "'Authorization: Bearer TOKEN'.", epilog=f"Example: {EXAMPLE}")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a token for a user and one of their roles",
                                epilog=f"Example: {EXAMPLE}")
    create.add_argument("app", metavar="APP", help="the app's folder, e.g. apps/food")
    create.add_argument("--user", required=True, metavar="NAME", help="the user the token acts as")
    create.add_argument("--role", required=True, metavar="ROLE",
                        help="the one role (of the user's) the token has; it never has more rights than that role")
    create.add_argument("--name", metavar="TEXT", help="what the token is for, shown in the list")
    create.add_argument("--expires", metavar="DAYS|DATE",
                        help="when it stops working: a number of days from now, or a date (2026-12-31); "
                             "default: never (revoke it when no longer needed)")
    listing = actions.add_parser("list", help="list the tokens (never their secret)")
    listing.add_argument("app", metavar="APP", help="the app's folder, e.g. apps/food")
    listing.add_argument("--user", metavar="NAME", help="only this user's tokens")
    revoke = actions.add_parser("revoke", help="revoke a token at once (by the id shown in the list)")
    revoke.add_argument("app", metavar="APP", help="the app's folder, e.g. apps/food")
    revoke.add_argument("id", metavar="ID", help="the token's id, from 'jxc token list'")
    for parser in (create, listing, revoke):
        parser.add_argument("--db", metavar="URL", help="the database; default: $JXC_DB, else APP/data/jxc.sqlite")


def expiry(text: str | None, now: dt.datetime) -> dt.datetime | None:
    """--expires as a moment: DAYS from now, or the end of DATE."""
    if text is None:
        return None
    value = text.strip()
    if value.isdigit():
        return now + dt.timedelta(days=int(value))
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(23, 59, 59))
    except ValueError:
        raise ValueError(f"--expires takes a number of days or a date like 2026-12-31, not {text!r}") from None


def run(args: argparse.Namespace, open_app: Callable[[argparse.Namespace], Any], error: type[Exception]) -> int:
    from engine.web.tokens import create_token, list_tokens, revoke_token

    if args.token_command == "revoke" and not args.id.isdigit():
        raise error(f"a token's id is a number from 'jxc token list', not {args.id!r}")
    started = open_app(args)
    engine, app, schema, clock = started.engine, started.app, started.records.schema, started.records.clock
    try:
        if args.token_command == "create":
            try:
                expires = expiry(args.expires, clock.now())
                made = create_token(engine, app, schema, args.user, args.role, name=args.name, expires_at=expires,
                                    clock=clock)
            except (ValueError, ServiceError) as problem:
                raise error(getattr(problem, "message", str(problem))) from None
            until = f", valid until {made.expires_at:%Y-%m-%d %H:%M}" if made.expires_at else ""
            print(f"token {made.id} for {args.user} as {args.role}{until}. Keep it secret; it is not shown again:")
            print(made.token)
            return 0
        if args.token_command == "list":
            rows = list_tokens(engine, schema, args.user)
            for row in rows:
                print(_line(row, clock.now()))
            if not rows:
                print(f"no tokens yet; create one with: jxc token create {args.app} --user NAME --role ROLE")
            return 0
        try:
            revoke_token(engine, schema, int(args.id), clock=clock)
        except ServiceError as problem:
            raise error(problem.message) from None
        print(f"token {args.id} revoked")
        return 0
    finally:
        started.close()


def _line(row: dict[str, Any], now: dt.datetime) -> str:
    if row["revoked_at"]:
        state = f"revoked {row['revoked_at']:%Y-%m-%d}"
    elif row["expires_at"] and row["expires_at"] <= now:
        state = f"expired {row['expires_at']:%Y-%m-%d}"
    else:
        state = f"valid until {row['expires_at']:%Y-%m-%d}" if row["expires_at"] else "valid"
    used = f"last used {row['last_used_at']:%Y-%m-%d %H:%M}" if row["last_used_at"] else "never used"
    name = f" {row['name']}" if row["name"] else ""
    return f"{row['id']}  {row['prefix']}…{name}  {row['user']} as {row['role']}  {state}, {used}"
