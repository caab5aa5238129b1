"""Row rules on many-links: a warehouse keeper sees and keeps only their own warehouses' documents."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import NotFound, PermissionDenied
from engine.migrate import migrate
from engine.records import Records
from engine.schema import build_schema
from engine.users import add_user, load_user

APP = """
entities:
  warehouse:
    fields: {code: string, name: string}
  receipt:
    kind: document
    fields:
      warehouse: {type: link, link: warehouse, required: true}
      note: string
extend:
  entities:
    user:
      fields:
        warehouses: {type: link, link: warehouse, many: true, label: 负责仓库}
roles:
  keeper:
    permissions:
      warehouse: read
      receipt: [read, create, write, submit]
    rows:
      receipt: warehouse IN CURRENT_USER().warehouses
  manager:
    permissions:
      warehouse: all
      receipt: all
"""


def _started(shop, db_engine, text: str) -> tuple[Any, Any, Records]:
    app = shop.load(text)
    migrate(app, db_engine)
    schema = build_schema(app)
    return app, schema, Records(app, db_engine, schema=schema)


@pytest.mark.both_dbs
def test_a_keeper_works_only_in_their_own_warehouses(shop, db_engine):
    app, schema, records = _started(shop, db_engine, APP)
    system = records.system()
    north = system.create("warehouse", {"code": "N", "name": "北库"})
    south = system.create("warehouse", {"code": "S", "name": "南库"})
    add_user(db_engine, app, schema, "wang", roles=["keeper"], fields={"warehouses": [north["id"]]})
    add_user(db_engine, app, schema, "boss", roles=["manager"])
    keeper = records.session(load_user(db_engine, app, schema, "wang"))
    boss = records.session(load_user(db_engine, app, schema, "boss"))
    in_south = boss.create("receipt", {"warehouse": south["id"], "note": "南"})

    mine = keeper.create("receipt", {"warehouse": north["id"], "note": "北"})
    assert [row["note"] for row in keeper.list("receipt").rows] == ["北"]
    assert {row["note"] for row in boss.list("receipt").rows} == {"北", "南"}
    with pytest.raises(NotFound):
        keeper.get("receipt", in_south["id"])
    with pytest.raises(PermissionDenied, match="wang may only keep receipt records where warehouse IN "
                                               r"CURRENT_USER\(\).warehouses"):
        keeper.create("receipt", {"warehouse": south["id"]})
    with pytest.raises(PermissionDenied):
        keeper.update("receipt", mine["id"], {"warehouse": south["id"]}, version=mine["version"])
    assert keeper.get("receipt", mine["id"])["warehouse"] == north["id"]  # nothing was written


@pytest.mark.both_dbs
def test_a_keeper_sees_only_their_own_warehouses_by_id(shop, db_engine):
    """`id IN CURRENT_USER().warehouses`: a record's own id looked for among the user's linked records."""
    rules = "      warehouse: read\n      receipt: [read, create, write, submit]\n    rows:\n"
    app, schema, records = _started(shop, db_engine, APP.replace(
        rules, rules + "      warehouse: id IN CURRENT_USER().warehouses\n"))
    system = records.system()
    north = system.create("warehouse", {"code": "N", "name": "北库"})
    east = system.create("warehouse", {"code": "E", "name": "东库"})
    south = system.create("warehouse", {"code": "S", "name": "南库"})
    add_user(db_engine, app, schema, "wang", roles=["keeper"], fields={"warehouses": [north["id"], east["id"]]})
    add_user(db_engine, app, schema, "zhao", roles=["keeper"])
    wang = records.session(load_user(db_engine, app, schema, "wang"))
    zhao = records.session(load_user(db_engine, app, schema, "zhao"))
    assert sorted(row["code"] for row in wang.list("warehouse").rows) == ["E", "N"]
    assert wang.get("warehouse", north["id"])["code"] == "N"
    with pytest.raises(NotFound):
        wang.get("warehouse", south["id"])
    assert zhao.list("warehouse").rows == []  # no warehouses of his own: none shown
