"""API tokens: created for a user and one of their roles, shown once, kept only as a hash, revocable.

A request with `Authorization: Bearer <token>` acts as the token's user holding only the token's role (and
only while the user still holds it and is active), so a token for an integration never has more rights than
it was made for. `jxc token create|list|revoke` manages them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.engine import Engine

from dsl.model import App
from dsl.problems import did_you_mean
from engine.context import Clock, CurrentUser
from engine.errors import FieldProblem, NotFound, ValidationFailed
from engine.schema import Schema
from engine.users import load_user
from engine.web.api.tables import token_table

PREFIX = "jxc_"
NAME_LIMIT = 140


class TokenRefused(Exception):
    """A token that cannot be used; the message says why (unknown, revoked, expired, user inactive)."""


@dataclass(frozen=True)
class NewToken:
    id: int
    token: str  # shown once: jxc keeps only its hash
    expires_at: dt.datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, app: App, schema: Schema, user_name: str, role: str, *, name: str | None = None,
                 expires_at: dt.datetime | None = None, clock: Clock | None = None) -> NewToken:
    """A new token for `user_name` acting with `role` (one the user holds)."""
    user = load_user(engine, app, schema, user_name)  # NotFound for an unknown or inactive user
    problems = []
    if role not in user.roles:
        held = sorted(user.roles)
        hint = did_you_mean(role, held)
        problems.append(FieldProblem("role", f"{user.name} does not hold the role '{role}'" +
                                     (f" ({hint})" if hint else "") + f"; their roles: {', '.join(held) or 'none'}"))
    if name is not None and len(name) > NAME_LIMIT:
        problems.append(FieldProblem("name", f"a token's name is at most {NAME_LIMIT} characters"))
    now = (clock or Clock(app.timezone)).now()
    if expires_at is not None and expires_at <= now:
        problems.append(FieldProblem("expires", f"the expiry {expires_at:%Y-%m-%d %H:%M} is already past"))
    if problems:
        raise ValidationFailed(problems)
    token = PREFIX + secrets.token_urlsafe(32)
    table = token_table(schema)
    with engine.begin() as connection:
        token_id = connection.execute(insert(table).values(
            token_hash=hash_token(token), prefix=token[:10], name=name, user_id=user.id, role=role, created_at=now,
            expires_at=expires_at).returning(table.c.id)).scalar_one()
    return NewToken(token_id, token, expires_at)


def list_tokens(engine: Engine, schema: Schema, user_name: str | None = None) -> list[dict[str, Any]]:
    """Every token (never the secret), newest first; with `user_name`, that user's only."""
    table = token_table(schema)
    users = schema.users
    assert users is not None
    query = (select(table.c.id, table.c.prefix, table.c.name, users.c.name.label("user"), table.c.role,
                    table.c.created_at, table.c.expires_at, table.c.last_used_at, table.c.revoked_at)
             .join(users, users.c.id == table.c.user_id).order_by(table.c.id.desc()))
    if user_name is not None:
        query = query.where(users.c.name == user_name)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def revoke_token(engine: Engine, schema: Schema, token_id: int, *, clock: Clock | None = None) -> None:
    table = token_table(schema)
    now = (clock or Clock()).now()
    with engine.begin() as connection:
        done = connection.execute(update(table).where(table.c.id == token_id, table.c.revoked_at.is_(None))
                                  .values(revoked_at=now)).rowcount
        if done != 1:
            exists = connection.execute(select(table.c.id).where(table.c.id == token_id)).first()
            raise NotFound(f"token {token_id} is already revoked" if exists else f"there is no token {token_id}")


_LOOKUPS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # schema metadata → statement


def _lookup(schema: Schema) -> Any:
    """The token with its user and whether the user still holds the token's role, in one statement (built once
    per schema: every API request runs it). The token's columns are labelled with a leading underscore, which
    no user field can have."""
    found = _LOOKUPS.get(schema.metadata)
    if found is None:
        table = token_table(schema)
        users = schema.users
        assert users is not None
        roles = schema.metadata.tables["jxc_user_role"]
        held = exists().where(roles.c.user_id == users.c.id, roles.c.role == table.c.role)
        found = (select(table.c.id.label("_token_id"), table.c.prefix.label("_token_prefix"),
                        table.c.role.label("_token_role"), table.c.expires_at.label("_token_expires_at"),
                        table.c.revoked_at.label("_token_revoked_at"),
                        table.c.last_used_at.label("_token_last_used_at"), held.label("_token_role_held"), users)
                 .join(users, users.c.id == table.c.user_id).where(table.c.token_hash == bindparam("token_hash")))
        _LOOKUPS[schema.metadata] = found
    return found


def authenticate(engine: Engine, app: App, schema: Schema, token: str, *, clock: Clock | None = None) -> CurrentUser:
    """The user a bearer token acts for, holding only the token's role; TokenRefused says why not."""
    now = (clock or Clock(app.timezone)).now()
    with engine.connect() as connection:
        row = connection.execute(_lookup(schema), {"token_hash": hash_token(token)}).mappings().first()
        if row is None:
            raise TokenRefused("the API token is not known")
        shown = f"{row['_token_prefix']}…"
        if row["_token_revoked_at"] is not None:
            raise TokenRefused(f"the API token {shown} was revoked on {row['_token_revoked_at']:%Y-%m-%d %H:%M}")
        if row["_token_expires_at"] is not None and row["_token_expires_at"] <= now:
            raise TokenRefused(f"the API token {shown} expired on {row['_token_expires_at']:%Y-%m-%d %H:%M}")
        if not row["active"]:
            raise TokenRefused(f"the user of the API token {shown} is no longer active")
        if not row["_token_role_held"]:
            raise TokenRefused(f"{row['name']} no longer holds the role '{row['_token_role']}' of the API token "
                               f"{shown}")
        users = schema.users
        assert users is not None
        record = {column.name: row[column.name] for column in users.c if column.name != "password_hash"}
        for key, junction in schema.user_junctions.items():  # what CURRENT_USER() gives formulas, as load_user
            record[key] = list(connection.execute(select(junction.c.target_id).where(
                junction.c.owner_id == row["id"]).order_by(junction.c.idx)).scalars())
    if row["_token_last_used_at"] is None or now - row["_token_last_used_at"] >= dt.timedelta(minutes=1):
        table = token_table(schema)
        with engine.begin() as connection:  # at most once a minute: not a write on every request
            connection.execute(update(table).where(table.c.id == row["_token_id"]).values(last_used_at=now))
    return CurrentUser(row["id"], row["name"], frozenset({row["_token_role"]}), record)
