"""API tokens: bearer authentication, one role per token, expiry, revocation, hashed at rest; `jxc token`."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from engine.cli import main
from engine.errors import ValidationFailed
from engine.users import deactivate
from engine.web.api.tables import token_table
from engine.web.tokens import create_token, hash_token, list_tokens
from tests.api_helpers import problem_of
from tests.service_helpers import APPS, NOW, make_user, toy_app

pytest_plugins = ["tests.service_fixtures", "tests.api_fixtures"]


@pytest.fixture
def api(make_api):
    return make_api(toy_app())


@pytest.mark.both_dbs
def test_a_token_acts_with_its_one_role_only(api):
    make_user(api.records, "bo", "clerk", "buyer")
    as_clerk = api.client("bo", token=api.token("bo", "clerk"))
    as_buyer = api.client("bo", token=api.token("bo", "buyer"))
    order = {"supplier": "东方", "lines": []}
    assert problem_of(as_clerk.post("/api/purchase_order?submit=true", json=order), 403)["detail"] == \
        "bo may not submit 采购订单 (purchase_order)"
    assert as_clerk.post("/api/item", json={"code": "A", "name": "a"}).status_code == 201
    problem_of(as_buyer.post("/api/item", json={"code": "B", "name": "b"}), 403)
    with pytest.raises(ValidationFailed) as refused:
        create_token(api.records.engine, api.records.app, api.records.schema, "bo", "auditor")
    assert str(refused.value) == "1 problem: role: bo does not hold the role 'auditor'; their roles: buyer, clerk"


@pytest.mark.both_dbs
def test_revoked_expired_unknown_and_malformed_tokens_are_refused(api):
    records = api.records
    expiring = api.token("eve", "clerk", expires_at=NOW + dt.timedelta(days=1))
    client = api.client("eve", token=expiring)
    assert client.get("/api/item").status_code == 200
    records.clock.fixed = NOW + dt.timedelta(days=1)
    expired = problem_of(client.get("/api/item"), 401)
    assert expired["detail"] == f"the API token {expiring[:10]}… expired on 2026-03-06 09:30"
    records.clock.fixed = NOW

    token = api.token("rob", "clerk")
    client = api.client("rob", token=token)
    assert client.get("/api/item").status_code == 200
    (row,) = list_tokens(records.engine, records.schema, "rob")
    assert row["last_used_at"] == NOW
    assert main(["token", "revoke", "x", str(row["id"])]) == 1  # an id must be a number: refused before opening
    from engine.web.tokens import revoke_token

    revoke_token(records.engine, records.schema, row["id"], clock=records.clock)
    response = client.get("/api/item")
    assert problem_of(response, 401)["detail"] == f"the API token {token[:10]}… was revoked on 2026-03-05 09:30"
    assert response.headers["www-authenticate"] == 'Bearer realm="jxc"'

    other = api.token("una", "clerk")
    deactivate(records.engine, records.schema, "una")
    assert problem_of(api.client("una", token=other).get("/api/item"), 401)["detail"] == \
        f"the user of the API token {other[:10]}… is no longer active"
    assert problem_of(api.client("x", token="jxc_made-up").get("/api/item"), 401)["detail"] == \
        "the API token is not known"
    basic = api.anonymous().get("/api/item", headers={"Authorization": "Basic cm9vdDpyb290"})
    assert problem_of(basic, 401)["detail"] == "send the API token as 'Authorization: Bearer <token>'"
    assert problem_of(api.anonymous().get("/api/item"), 401)["detail"].startswith("log in, or send an API token")


@pytest.mark.both_dbs
def test_only_a_hash_of_the_token_is_kept(api):
    token = api.token("hal", "clerk")
    with api.records.engine.connect() as connection:
        rows = connection.execute(select(token_table(api.records.schema))).mappings().all()
    assert [row["token_hash"] for row in rows] == [hash_token(token)]
    assert token not in repr([dict(row) for row in rows]) and token.startswith(rows[0]["prefix"])


def test_jxc_token_create_list_revoke(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'jxc.sqlite'}"
    app = str(APPS / "no_stock")
    assert main(["user", "add", "erp", "--role", "purchaser", "--app", app, "--db", db]) == 0
    capsys.readouterr()
    assert main(["token", "create", app, "--db", db, "--user", "erp", "--role", "purchaser", "--name", "ERP",
                 "--expires", "2099-12-31"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "token 1 for erp as purchaser, valid until 2099-12-31 23:59. Keep it secret; it is not shown again:"
    token = out[1]
    assert token.startswith("jxc_") and len(token) > 40

    assert main(["token", "list", app, "--db", db]) == 0
    assert capsys.readouterr().out == f"1  {token[:10]}… ERP  erp as purchaser  valid until 2099-12-31, never used\n"

    assert main(["token", "create", app, "--db", db, "--user", "erp", "--role", "sales_manager"]) == 1
    assert "erp does not hold the role 'sales_manager'" in capsys.readouterr().err
    assert main(["token", "create", app, "--db", db, "--user", "erp", "--role", "purchaser", "--expires", "soon"]) == 1
    assert "--expires takes a number of days or a date like 2026-12-31, not 'soon'" in capsys.readouterr().err

    assert main(["token", "revoke", app, "--db", db, "1"]) == 0
    assert capsys.readouterr().out == "token 1 revoked\n"
    assert main(["token", "revoke", app, "--db", db, "1"]) == 1
    assert "token 1 is already revoked" in capsys.readouterr().err
    assert main(["token", "list", app, "--db", db]) == 0
    assert "revoked" in capsys.readouterr().out


FENCED = """
name: fenced
title: 围栏
extend:
  entities:
    user:
      fields:
        regions: {type: link, link: region, many: true}
entities:
  region:
    key: code
    fields: {code: {type: string, required: true}}
  visit:
    fields:
      region: {type: link, link: region, required: true}
      note: string
roles:
  rep:
    label: 业务员
    permissions: {region: read, visit: [read, create]}
    rows:
      visit: region IN CURRENT_USER().regions
"""


@pytest.mark.both_dbs
def test_a_token_user_is_fenced_by_their_own_fields(make_api):
    from engine.users import add_user
    from tests.service_helpers import _app_from_text

    api = make_api(_app_from_text(FENCED))
    admin = api.client("root", "admin")
    north, south = (admin.post("/api/region", json={"code": code}).json()["id"] for code in ("N", "S"))
    for region in (north, south):
        admin.post("/api/visit", json={"region": region, "note": f"visit {region}"})
    records = api.records
    add_user(records.engine, records.app, records.schema, "rep1", roles=["rep"], fields={"regions": [north]})
    rep = api.client("rep1", token=create_token(records.engine, records.app, records.schema, "rep1", "rep").token)
    assert [row["region"] for row in rep.get("/api/visit").json()["data"]] == [north]
    assert rep.post("/api/visit", json={"region": north}).status_code == 201
    assert problem_of(rep.post("/api/visit", json={"region": south}), 403)["detail"] == \
        "rep1 may only keep visit records where region IN CURRENT_USER().regions"
