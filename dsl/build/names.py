"""Names admins may not use: system columns the engine adds, words of the formula language, SQL keywords."""

from __future__ import annotations

# Columns the engine adds to every table (see dsl.build.catalog for their types).
SYSTEM_COLUMNS = frozenset({
    "id", "doc_no", "docstatus", "amended_from", "workflow_state", "created_at", "created_by", "modified_at",
    "modified_by", "version", "parent_id", "idx", "parent",
})

FORMULA_WORDS = frozenset({"and", "or", "not", "in", "true", "false"})

# Words that are reserved in PostgreSQL or SQLite and would confuse SQL written against the tables.
SQL_KEYWORDS = frozenset({
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case", "cast",
    "check", "collate", "column", "constraint", "create", "cross", "current_catalog", "current_date",
    "current_role", "current_time", "current_timestamp", "current_user", "default", "deferrable", "desc",
    "distinct", "do", "else", "end", "except", "exists", "false", "fetch", "for", "foreign", "from", "full",
    "grant", "group", "having", "in", "initially", "inner", "intersect", "into", "is", "join", "lateral",
    "leading", "left", "like", "limit", "localtime", "localtimestamp", "natural", "not", "null", "offset",
    "on", "only", "or", "order", "outer", "placing", "primary", "references", "returning", "right", "select",
    "session_user", "some", "symmetric", "table", "then", "to", "trailing", "true", "union", "unique", "user",
    "using", "variadic", "when", "where", "window", "with",
})

# Entities the engine provides itself.
SYSTEM_ENTITIES = frozenset({"user", "role", "stock_balance", "stock_batch", "stock_ledger", "stock_reservation"})


def reserved_reason(name: str) -> str | None:
    """Why `name` cannot be used for a field or entity, or None."""
    if name in SYSTEM_COLUMNS:
        return "is a column that jxc adds itself"
    if name in FORMULA_WORDS:
        return "is a word of the formula language"
    if name in SQL_KEYWORDS:
        return "is a reserved word of SQL"
    return None
