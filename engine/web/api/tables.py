"""jxc's tables for the REST API (created by migration like every `jxc_` table).

- jxc_api_token: API tokens. Only the SHA-256 of a token is kept (a token is 32 random bytes, so a plain hash
  is enough; a slow password hash would only slow every request). A token acts for one user with one of
  their roles, may expire, can be revoked, and remembers when it was last used.
- jxc_api_idempotency: one row per (user, Idempotency-Key) of a batch operation: the hash of the request and
  the response given, written in the operation's own transaction, so a replayed operation is answered from
  here instead of being applied twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Table, Text

TOKEN_TABLE = "jxc_api_token"
IDEMPOTENCY_TABLE = "jxc_api_idempotency"
KEY_LENGTH = 200  # an Idempotency-Key longer than this is refused


def add_api_tables(schema: Any) -> None:
    """Add the API's tables to `schema` (engine.schema.Schema)."""
    from engine.schema import ID_TYPE, USER_TABLE

    metadata = schema.metadata
    if TOKEN_TABLE in metadata.tables:
        return
    Table(
        TOKEN_TABLE, metadata,
        Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the whole token
        Column("prefix", String(16), nullable=False),  # the token's first characters, to recognise it in a list
        Column("name", String(140)),
        Column("user_id", ID_TYPE, ForeignKey(f"{USER_TABLE}.id", ondelete="CASCADE"), nullable=False, index=True),
        Column("role", String(63), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("expires_at", DateTime),
        Column("last_used_at", DateTime),
        Column("revoked_at", DateTime),
        sqlite_autoincrement=True,
    )
    Table(
        IDEMPOTENCY_TABLE, metadata,
        Column("user_id", ID_TYPE, ForeignKey(f"{USER_TABLE}.id", ondelete="CASCADE"), primary_key=True),
        Column("key", String(KEY_LENGTH), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status", Integer, nullable=False),
        Column("response", Text, nullable=False),  # the JSON body given
        Column("created_at", DateTime, nullable=False),
    )


def token_table(schema: Any) -> Table:
    add_api_tables(schema)
    return schema.metadata.tables[TOKEN_TABLE]


def idempotency_table(schema: Any) -> Table:
    add_api_tables(schema)
    return schema.metadata.tables[IDEMPOTENCY_TABLE]
