"""Built-in plugin `notify`: checks `trigger: change` alerts whenever a record changes, and holds the
settings of notifications in app.yaml:

    plugins:
      notify:
        base_url: https://erp.example.com    # links in messages: {{ link }} = base_url + /e/<entity>/<id>
        max_attempts: 10                     # a notification is dead after this many failed sends

The alerts themselves are engine.alerts; the channels are the plugins email, wecom and dingtalk.
"""

from __future__ import annotations

from typing import Any

from engine import hookimpl


@hookimpl
def jxc_settings_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "base_url": {"type": "string", "pattern": "^https?://[^\\s]+$",
                         "description": "the address people open jxc at, for links in messages"},
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100,
                             "description": "failed sends of one notification before it is given up (dead)"},
        },
        "additionalProperties": False,
    }


def _changed(session: Any, entity: Any, record: dict[str, Any], connection: Any) -> None:
    from engine.alerts import engine_for, on_records_changed

    if engine_for(session.records).change_alerts(entity.name):
        on_records_changed(session, connection, entity.name, [record["id"]])


@hookimpl
def jxc_after_save(session: Any, entity: Any, record: dict[str, Any], connection: Any) -> None:
    _changed(session, entity, record, connection)


@hookimpl
def jxc_after_submit(session: Any, entity: Any, record: dict[str, Any], connection: Any) -> None:
    _changed(session, entity, record, connection)


@hookimpl
def jxc_after_cancel(session: Any, entity: Any, record: dict[str, Any], connection: Any) -> None:
    _changed(session, entity, record, connection)
