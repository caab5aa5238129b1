"""HTTP list API: jxc's `GET /api/item?filter=qty < 10&limit=50` vs a bare Starlette endpoint doing the same query.

10,000 items in a SQLite file (inserted with SQLAlchemy Core). Two servers side by side, each uvicorn on a
loopback port in its own process:

- jxc: the whole web app (`create_app`: session, CSRF and security-header middleware, the API router),
  authenticated by an API token of a role that may read items, the filter compiled from the formula
  language, permissions applied, keyset pages (`next` links) and exact decimals as JSON;
- bare: one hand-written Starlette endpoint: the same rows with SQLAlchemy Core (`qty < 10`, ordered by id,
  50 at a time after the last id), decimals as strings, no authentication.

An httpx client walks the pages of the filter on each side (following that side's own cursor, starting over
at the end), one request at a time, the two sides taking turns request by request after a warm-up, and
times each request. Both sides must return the same rows. Prints
p50/p99 latency and requests/s per side and `vs_bare` = jxc throughput / bare throughput (goal >= 0.5).
--quick: 300 requests per side instead of 2,000. The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RECORDS = 10_000
PAGE = 50
FILTER = "qty < 10"  # a third of the items
GOAL = 0.5
APP = """\
name: http_bench
title: 接口基准
entities:
  item:
    label: 物料
    key: code
    title: name
    fields:
      code: {type: string, required: true, unique: true, max_length: 20}
      name: {type: string, required: true}
      qty: {type: int, index: true}
      price: money
      area: {type: choice, options: {east: 华东, west: 华西}}
roles:
  reader:
    label: 查询
    permissions: {item: read}
"""


def prepare(folder: Path) -> tuple[str, str]:
    """The app folder and database with RECORDS items, a reader and their API token."""
    from sqlalchemy import insert

    from engine.startup import start
    from engine.users import add_user
    from engine.web.tokens import create_token

    app_dir = folder / "app"
    app_dir.mkdir()
    (app_dir / "app.yaml").write_text(textwrap.dedent(APP), encoding="utf-8")
    url = f"sqlite:///{folder / 'bench.sqlite'}"
    started = start(app_dir, url)
    now = dt.datetime(2026, 3, 5, 9, 30)
    table = started.records.schema.tables["item"]
    rows = [{"code": f"A{n:05d}", "name": f"物料{n}", "qty": n % 30, "price": Decimal(n % 997) / 4,
             "area": "east" if n % 2 else "west", "created_at": now, "modified_at": now, "version": 1}
            for n in range(RECORDS)]
    with started.engine.begin() as connection:
        connection.execute(insert(table), rows)
    add_user(started.engine, started.app, started.records.schema, "bench", roles=["reader"])
    token = create_token(started.engine, started.app, started.records.schema, "bench", "reader").token
    started.close()
    return str(app_dir), url + "|" + token


# --- the two servers (run in their own process: `http_bench.py --serve jxc|bare ...`) --------------------


def jxc_app(app_dir: str, url: str) -> Any:
    from engine.startup import start
    from engine.web.app import create_app

    return create_app(start(app_dir, url))


def bare_app(url: str) -> Any:
    from sqlalchemy import MetaData, Table, select
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from engine.db import create_engine

    engine = create_engine(url)
    table = Table("item", MetaData(), autoload_with=engine)

    def items(request: Request) -> JSONResponse:
        after = int(request.query_params.get("after", "0"))
        query = select(table).where(table.c.qty < 10, table.c.id > after).order_by(table.c.id).limit(PAGE + 1)
        with engine.connect() as connection:
            rows = [dict(row) for row in connection.execute(query).mappings()]
        more = len(rows) > PAGE
        rows = rows[:PAGE]
        for row in rows:  # the stored scaled integer → the exact decimal, as text (what jxc sends)
            row["price"] = None if row["price"] is None else format(Decimal(row["price"]).scaleb(-2), "f")
            for key in ("created_at", "modified_at"):
                row[key] = row[key] and str(row[key])
        following = f"/items?after={rows[-1]['id']}" if more else None
        return JSONResponse({"data": rows, "next": following})

    return Starlette(routes=[Route("/items", items)])


def serve(kind: str, port: int, app_dir: str, url: str) -> None:
    import uvicorn

    app = jxc_app(app_dir, url) if kind == "jxc" else bare_app(url)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- the client ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(kind: str, app_dir: str, url: str) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port), "--app-dir", app_dir,
                                "--db", url], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the {kind} server stopped at start (exit {process.returncode})")
        try:
            httpx.get(base + "/", timeout=1)
            return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the {kind} server did not start within 60 s")


class Walker:
    """Requests one side's pages in turn (following `next`, starting over at the end), timing each."""

    def __init__(self, base: str, first: str, headers: dict[str, str]) -> None:
        import httpx

        self.client = httpx.Client(base_url=base, headers=headers, timeout=30)
        self.first = self.url = first
        self.latencies: list[float] = []
        self.first_walk: list[list[int]] = []
        self.walking = True

    def step(self, timed: bool) -> None:
        began = time.perf_counter()
        response = self.client.get(self.url)
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{self.url} answered {response.status_code}: {response.text[:300]}")
        body = response.json()
        if timed:
            self.latencies.append(elapsed)
        if self.walking:
            self.first_walk.append([row["id"] for row in body["data"]])
        self.walking = self.walking and body["next"] is not None
        self.url = body["next"] or self.first


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"p50_ms": round(statistics.median(ordered), 3),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
            "rps": round(len(ordered) / (sum(ordered) / 1000), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 requests per side (under a minute)")
    parser.add_argument("--requests", type=int, help="requests per side (default 2,000; --quick 300)")
    parser.add_argument("--serve", choices=["jxc", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--app-dir", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.app_dir, args.db)
        return 0
    requests = args.requests or (300 if args.quick else 2000)
    from urllib.parse import quote

    with tempfile.TemporaryDirectory(prefix="jxc_http_bench_") as folder:
        app_dir, secret = prepare(Path(folder))
        url, token = secret.split("|")
        sides = {"jxc": (f"/api/item?filter={quote(FILTER)}&limit={PAGE}", {"Authorization": f"Bearer {token}"}),
                 "bare": ("/items", {})}
        servers = {kind: start_server(kind, app_dir, url) for kind in sides}
        walkers: dict[str, Walker] = {}
        try:  # the two sides take turns, request by request: a busy moment of the machine hits both alike
            walkers.update({kind: Walker(servers[kind][1], *sides[kind]) for kind in sides})
            warmup = min(50, requests // 5)
            for number in range(warmup + requests):
                for walker in walkers.values():
                    walker.step(timed=number >= warmup)
        finally:
            for walker in walkers.values():
                walker.client.close()
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=30)
        results = {kind: summary(walker.latencies) for kind, walker in walkers.items()}
        walks = {kind: walker.first_walk for kind, walker in walkers.items()}
    if walks["jxc"] != walks["bare"]:
        raise SystemExit("jxc and the bare endpoint returned different pages")
    ratio = results["jxc"]["rps"] / results["bare"]["rps"]
    for kind, found in results.items():
        print(f"{kind:<5} p50 {found['p50_ms']:7.2f} ms  p99 {found['p99_ms']:7.2f} ms  {found['rps']:7.1f} req/s")
    print(f"vs_bare {ratio:.2f} (goal >= {GOAL}); {len(walks['jxc'])} pages of {PAGE} per walk of '{FILTER}' over "
          f"{RECORDS} records, {requests} requests per side")
    print(json.dumps({"benchmark": "http_list", "records": RECORDS, "page": PAGE, "filter": FILTER,
                      "requests": requests, "jxc": results["jxc"], "bare": results["bare"],
                      "vs_bare": round(ratio, 3), "goal": GOAL, "meets_goal": ratio >= GOAL,
                      "python": sys.version.split()[0], "cpus": os.cpu_count()}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
