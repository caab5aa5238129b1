"""Built-in plugin `stock_count`: a stock count (盘点单) is submitted only when every line is counted once,
lines beyond the tolerance are recounted or approved, and the books did not move since its expected
quantities were read (engine.stock.count; `submit_count` reconciles and submits in one go)."""

from __future__ import annotations

from typing import Any

from engine import hookimpl


@hookimpl
def jxc_before_submit(session: Any, entity: Any, record: dict[str, Any], connection: Any) -> str | None:
    from engine.stock.count import COUNT, count_problems

    if getattr(entity, "name", None) != COUNT or session.app.stock is None or not session.records.schema.stock:
        return None
    problems = count_problems(session, record, connection)
    return "；".join(problems) if problems and not session.app.locale.startswith("en") else (
        "; ".join(problems) or None)
