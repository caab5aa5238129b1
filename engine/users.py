"""jxc's users: an account, the app's roles it holds, and the extra fields the app gives users."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from dsl.model import App, FieldType
from dsl.problems import did_you_mean
from engine.coerce import CoercionError, coerce
from engine.context import ADMIN_ROLE, Clock, CurrentUser
from engine.errors import FieldProblem, NotFound, ValidationFailed
from engine.schema import Schema

NAME_LIMIT = 100


def add_user(engine: Engine, app: App, schema: Schema, name: str, *, roles: Iterable[str] = (),
             full_name: str | None = None, email: str | None = None, password_hash: str | None = None,
             fields: Mapping[str, Any] | None = None, clock: Clock | None = None) -> int:
    """Create a user with roles; every problem (unknown role, a name in use...) is reported at once."""
    problems: list[FieldProblem] = []
    clean = name.strip()
    if not clean or len(clean) > NAME_LIMIT or any(c.isspace() for c in clean):
        problems.append(FieldProblem("name", f"a user name is 1 to {NAME_LIMIT} characters without spaces"))
    wanted = list(dict.fromkeys(roles))
    known = {*app.roles, ADMIN_ROLE}
    for role in wanted:
        if role not in known:
            hint = did_you_mean(role, known)
            problems.append(FieldProblem("roles", f"the app has no role '{role}'" + (f" ({hint})" if hint else "")
                                         + f"; roles: {', '.join(sorted(known))}"))
    values: dict[str, Any] = {}
    many: dict[str, list[int]] = {}
    for key, value in (fields or {}).items():
        field = app.user_fields.get(key)
        if field is None:
            problems.append(FieldProblem(key, "users have no such field"))
            continue
        try:
            converted = coerce(field, value)
        except CoercionError as error:
            problems.append(FieldProblem(key, str(error)))
            continue
        if field.type is FieldType.LINK and field.many:
            many[key] = converted or []
        else:
            values[key] = converted
    users = schema.users
    assert users is not None
    with engine.begin() as connection:
        if connection.execute(select(users.c.id).where(users.c.name == clean)).first():
            problems.append(FieldProblem("name", f"there is already a user '{clean}'"))
        if problems:
            raise ValidationFailed(problems)
        now = (clock or Clock(app.timezone)).now()
        user_id = connection.execute(insert(users).values(
            name=clean, full_name=full_name, email=email, password_hash=password_hash, active=True, created_at=now,
            **values).returning(users.c.id)).scalar_one()
        _set_roles(connection, schema, user_id, wanted)
        for key, targets in many.items():
            junction = schema.user_junctions[key]
            if targets:
                connection.execute(insert(junction), [{"owner_id": user_id, "target_id": t, "idx": i}
                                                      for i, t in enumerate(targets)])
    return user_id


def set_roles(engine: Engine, schema: Schema, name: str, roles: Iterable[str]) -> None:
    users = schema.users
    assert users is not None
    with engine.begin() as connection:
        user_id = connection.execute(select(users.c.id).where(users.c.name == name)).scalar()
        if user_id is None:
            raise NotFound(f"there is no user '{name}'")
        _set_roles(connection, schema, user_id, roles)


def _set_roles(connection: Connection, schema: Schema, user_id: int, roles: Iterable[str]) -> None:
    table = schema.metadata.tables["jxc_user_role"]
    connection.execute(delete(table).where(table.c.user_id == user_id))
    wanted = list(dict.fromkeys(roles))
    if wanted:
        connection.execute(insert(table), [{"user_id": user_id, "role": role} for role in wanted])


def load_user(engine: Engine, app: App, schema: Schema, name: str) -> CurrentUser:
    """The user as the service layer sees them: roles, and the record CURRENT_USER() gives formulas."""
    users = schema.users
    assert users is not None
    with engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.name == name, users.c.active.is_(True))).mappings().first()
        if row is None:
            raise NotFound(f"there is no active user '{name}'")
        roles_table = schema.metadata.tables["jxc_user_role"]
        roles = frozenset(connection.execute(select(roles_table.c.role).where(roles_table.c.user_id == row["id"]))
                          .scalars())
        record = {key: value for key, value in row.items() if key != "password_hash"}
        for key, junction in schema.user_junctions.items():
            record[key] = list(connection.execute(select(junction.c.target_id).where(junction.c.owner_id == row["id"])
                                                  .order_by(junction.c.idx)).scalars())
    return CurrentUser(row["id"], row["name"], roles, record)


def deactivate(engine: Engine, schema: Schema, name: str) -> None:
    users = schema.users
    assert users is not None
    with engine.begin() as connection:
        if connection.execute(update(users).where(users.c.name == name).values(active=False)).rowcount != 1:
            raise NotFound(f"there is no user '{name}'")


def stored_password(engine: Engine, schema: Schema, name: str) -> str | None:
    """The password hash of an active user, None when there is no such active user or no password."""
    users = schema.users
    assert users is not None
    with engine.connect() as connection:
        return connection.execute(select(users.c.password_hash).where(
            users.c.name == name.strip(), users.c.active.is_(True))).scalar()


def set_password(engine: Engine, schema: Schema, name: str, password_hash: str) -> None:
    """Replace a user's password hash (hashing is the caller's: engine.web.auth.hash_password)."""
    users = schema.users
    assert users is not None
    with engine.begin() as connection:
        if connection.execute(update(users).where(users.c.name == name).values(password_hash=password_hash)
                              ).rowcount != 1:
            raise NotFound(f"there is no user '{name}'")


def has_admin(engine: Engine, schema: Schema) -> bool:
    """Whether some active user holds jxc's admin role (the first start of `jxc serve` creates one)."""
    users = schema.users
    assert users is not None
    roles = schema.metadata.tables["jxc_user_role"]
    with engine.connect() as connection:
        return connection.execute(select(users.c.id).join(roles, roles.c.user_id == users.c.id).where(
            roles.c.role == ADMIN_ROLE, users.c.active.is_(True)).limit(1)).first() is not None
