"""Formula evaluation: jxc compiled callables vs hand-written Python lambdas and vs simpleeval.

Twenty representative ERP formulas run over generated sales orders (100k records; 10k with --quick):

- jxc: `check()` + `compile_python()`, called as `f(record, context)`;
- lambda: what a competent Python developer writes for the same formula, with the same Decimal semantics and
  the same blank handling: a field the data model leaves optional (qty, price, discount_pct, expiry, remark,
  customer.default_discount, line qty and expiry) is checked for None, a required one is not. Lambdas are
  called the same way, `g(record, context)`, and read TODAY from the same context;
- simpleeval: the library a user would otherwise pick. `EvalWithCompoundTypes` with the record as `names`
  and the formula functions given as Python callables (dsl.formula.runtime, so results match), each formula
  parsed once with `SimpleEval.parse` and evaluated with `eval(text, previously_parsed=...)` (its documented
  way to skip re-parsing). Blank handling is written into the expressions, so the work is the same.

jxc results must equal the lambda results (and the simpleeval results) for every record, value and type;
a benchmark that computes different things would be meaningless. Timing: time.perf_counter, best of N
repeats per formula (N=3; --quick: 1), with the garbage collector off while timing; totals are sums over
formulas. vs_lambda = jxc / lambda (goal <= 2.0), vs_simpleeval = simpleeval / jxc (goal >= 10).
Then the load of a generated app with 50 entities, 600 fields and 300 formulas (read, check, compile:
`load_ms`, goal < 1000 ms), against just reading the same YAML with yaml.safe_load (`load_vs_yaml`).

The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import gc
import json
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from importlib.metadata import version
from typing import Any

import simpleeval
import yaml
from appgen import generate as generate_app

from dsl.formula import runtime as rt
from dsl.formula import types as t
from dsl.formula.catalog import Catalog, EntityInfo, FieldInfo
from dsl.formula.checker import check
from dsl.formula.context import SimpleContext
from dsl.formula.functions import builtin_registry
from dsl.formula.pycompile import compile_python

GOAL_LOAD_MS = 1000
GOAL_VS_LAMBDA = 2.0
GOAL_VS_SIMPLEEVAL = 10
NOW = dt.datetime(2026, 3, 15, 9, 30)

# --- the model ---------------------------------------------------------------------------------------------


def build_catalog() -> Catalog:
    dec = t.DECIMAL
    return Catalog.build([
        EntityInfo.build("customer", [
            FieldInfo("name", t.TEXT, ("客户名称", "Customer name")),
            FieldInfo("credit_limit", dec, ("信用额度", "Credit limit"), scale=2),
            FieldInfo("default_discount", dec, ("默认折扣", "Default discount"), scale=2),
        ]),
        EntityInfo.build("sales_order", [
            FieldInfo("code", t.TEXT, ("单号", "Code")),
            FieldInfo("category", t.TEXT, ("类别", "Category")),
            FieldInfo("status", t.TEXT, ("状态", "Status")),
            FieldInfo("remark", t.TEXT, ("备注", "Remark")),
            FieldInfo("qty", dec, ("数量", "Qty"), scale=3),
            FieldInfo("price", dec, ("单价", "Price"), scale=2),
            FieldInfo("amount", dec, ("金额", "Amount"), scale=2),
            FieldInfo("total", dec, ("价税合计", "Total"), scale=2),
            FieldInfo("tax_rate", dec, ("税率", "Tax rate"), scale=2),
            FieldInfo("discount_pct", dec, ("折扣", "Discount %"), scale=2),
            FieldInfo("line_no", t.INT, ("行号", "Line no")),
            FieldInfo("priority", t.INT, ("优先级", "Priority")),
            FieldInfo("is_urgent", t.BOOL, ("加急", "Urgent")),
            FieldInfo("order_date", t.DATE, ("订单日期", "Order date")),
            FieldInfo("expiry", t.DATE, ("有效期", "Expiry")),
            FieldInfo("customer", t.record("customer"), ("客户", "Customer")),
            FieldInfo("lines", t.rows("sales_order_line"), ("明细", "Lines")),
        ]),
        EntityInfo.build("sales_order_line", [
            FieldInfo("item_code", t.TEXT, ("物料编码", "Item code")),
            FieldInfo("qty", dec, ("数量", "Qty"), scale=3),
            FieldInfo("price", dec, ("单价", "Price"), scale=2),
            FieldInfo("amount", dec, ("金额", "Amount"), scale=2),
            FieldInfo("expiry", t.DATE, ("有效期", "Expiry")),
        ], parent="sales_order"),
    ])


# --- the data ----------------------------------------------------------------------------------------------

CATEGORIES = ("hardware", "electrical", "fasteners", "steel", "packaging", "化工原料", "办公用品", "电子元件")
STATUSES = ("draft", "pending", "review", "approved", "shipped", "closed")
REMARKS = ("urgent  delivery", " call before   shipping ", "加急 发货", "分批  交货", "", "keep dry",
           "port of loading: Ningbo", "含税价")
TAX_RATES = (Decimal("0.13"), Decimal("0.09"), Decimal("0.06"), Decimal("0.00"))
CENT = Decimal("0.01")


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)).scaleb(-2)


def _quantity(rng: random.Random, high: int) -> Decimal:
    return Decimal(rng.randint(1, high * 1000)).scaleb(-3)


def _maybe(rng: random.Random, blank: float, value: Any) -> Any:
    return None if rng.random() < blank else value


def generate(count: int, seed: int = 20260315) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    base = dt.date(2025, 1, 1)
    customers = [{
        "name": f"客户{i:04d}",
        "credit_limit": _money(rng, 10_000, 2_000_000),
        "default_discount": _maybe(rng, 0.5, _money(rng, 0, 15)),
    } for i in range(500)]
    records = []
    for i in range(count):
        lines = []
        for j in range(rng.randint(3, 5)):
            qty = _maybe(rng, 0.05, _quantity(rng, 200))
            price = _money(rng, 1, 5_000)
            lines.append({
                "item_code": f"M{rng.randint(1, 99999):05d}-{j}",
                "qty": qty,
                "price": price,
                "amount": (qty * price).quantize(CENT, ROUND_HALF_UP) if qty is not None else Decimal("0.00"),
                "expiry": _maybe(rng, 0.3, base + dt.timedelta(days=rng.randint(0, 900))),
            })
        amount = sum((line["amount"] for line in lines), Decimal("0.00"))
        tax_rate = rng.choice(TAX_RATES)
        records.append({
            "id": i + 1,
            "code": f"SO2026{i + 1:07d}",
            "category": rng.choice(CATEGORIES),
            "status": rng.choice(STATUSES),
            "remark": _maybe(rng, 0.4, rng.choice(REMARKS)),
            "qty": _maybe(rng, 0.02, _quantity(rng, 1_000)),
            "price": _maybe(rng, 0.02, _money(rng, 1, 20_000)),
            "amount": amount,
            "total": (amount * (1 + tax_rate)).quantize(CENT, ROUND_HALF_UP),
            "tax_rate": tax_rate,
            "discount_pct": _maybe(rng, 0.6, _money(rng, 0, 30)),
            "line_no": rng.randint(1, 500),
            "priority": rng.randint(1, 5),
            "is_urgent": rng.random() < 0.2,
            "order_date": base + dt.timedelta(days=rng.randint(0, 540)),
            "expiry": _maybe(rng, 0.3, base + dt.timedelta(days=rng.randint(300, 900))),
            "customer": rng.choice(customers),
            "lines": lines,
        })
    return records


# --- the hand-written baseline's helpers -----------------------------------------------------------------------

D095 = Decimal("0.95")
D001 = Decimal("0.01")
D013 = Decimal("0.13")
IN_STATUSES = ("draft", "pending", "review")
_SPACES = re.compile(" +")


def add_months(value: dt.date, months: int) -> dt.date:
    """What a developer writes for 'the same day n months later, or the month's last day'."""
    y, m = divmod(value.year * 12 + value.month - 1 + months, 12)
    return value.replace(year=y, month=m + 1, day=min(value.day, calendar.monthrange(y, m + 1)[1]))


def _l_expiring(r: dict, c: Any) -> bool | None:
    e = r["expiry"]
    return None if e is None else (e - c.today()).days <= 30


def _l_latest_expiry(r: dict, c: Any) -> dt.date | None:
    return max((e for line in r["lines"] if (e := line["expiry"]) is not None), default=None)


def _l_coalesce(r: dict, c: Any) -> Any:
    if (d := r["discount_pct"]) is not None:
        return d
    if (d := r["customer"]["default_discount"]) is not None:
        return d
    return 0


def _l_net_price(r: dict, c: Any) -> Decimal | None:
    p = r["price"]
    if p is None:
        return None
    d = r["discount_pct"]
    return (p * (1 - (0 if d is None else d / 100))).quantize(CENT, ROUND_HALF_UP)


def _l_grade(r: dict, c: Any) -> str:
    total = r["total"]
    return "A" if total >= 100000 else "B" if total >= 10000 else "C"


def _l_remark(r: dict, c: Any) -> str:
    m = r["remark"]
    return "-" if m is None or m == "" else _SPACES.sub(" ", m.strip(" ")).upper()


# --- simpleeval's functions (the runtime's, so that results match) --------------------------------------------


def _se_sum(values: list) -> Any:
    total: Any = 0
    for v in values:
        if v is not None:
            total = total + v
    return total


def _se_max(values: list) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _se_coalesce(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


def simpleeval_functions(context: Any) -> dict[str, Callable[..., Any]]:
    return {
        "ROUND": rt.round_, "CONCAT": rt.concat, "UPPER": rt.upper, "LEFT": rt.left, "TRIM": rt.trim,
        "DAYS_BETWEEN": rt.days_between, "TODAY": context.today, "MOD": rt.mod, "EDATE": rt.edate,
        "PCT": rt.percent, "ISBLANK": lambda v: v is None or v == "", "SUM": _se_sum, "MAX": _se_max,
        "COUNT": len, "COALESCE": _se_coalesce, "D": Decimal, "str": str,
    }


# --- the formulas ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    formula: str  # jxc
    baseline: Callable[[dict, Any], Any]  # hand-written Python
    simpleeval: str | None  # the same in simpleeval's Python syntax; None where it cannot say the same thing


CASES: tuple[Case, ...] = (
    Case("line_amount", "{数量} * {单价}",
         lambda r, c: None if (q := r["qty"]) is None or (p := r["price"]) is None else q * p,
         "None if qty is None or price is None else qty * price"),
    Case("tax", "ROUND(amount * tax_rate, 2)",
         lambda r, c: (r["amount"] * r["tax_rate"]).quantize(CENT, ROUND_HALF_UP),
         "ROUND(amount * tax_rate, 2)"),
    Case("discounted", "IF(discount_pct > 0, amount * (1 - discount_pct%), amount)",
         lambda r, c: r["amount"] * (1 - d * D001) if (d := r["discount_pct"]) is not None and d > 0
         else r["amount"],
         "amount * (1 - PCT(discount_pct)) if discount_pct is not None and discount_pct > 0 else amount"),
    Case("credit_left", "customer.credit_limit - total",
         lambda r, c: r["customer"]["credit_limit"] - r["total"],
         "customer.credit_limit - total"),
    Case("code_text", 'CONCAT(UPPER(LEFT(category, 3)), "-", code)',
         lambda r, c: r["category"][:3].upper() + "-" + r["code"],
         'CONCAT(UPPER(LEFT(category, 3)), "-", code)'),
    Case("expiring", "DAYS_BETWEEN(TODAY(), expiry) <= 30",
         _l_expiring,
         "None if expiry is None else DAYS_BETWEEN(TODAY(), expiry) <= 30"),
    Case("lines_total", "SUM(lines.amount)",
         lambda r, c: sum(line["amount"] for line in r["lines"]),
         "SUM([x.amount for x in lines])"),
    Case("positive_lines", "COUNT(lines, lines.qty > 0)",
         lambda r, c: sum(1 for line in r["lines"] if (q := line["qty"]) is not None and q > 0),
         "COUNT([1 for x in lines if x.qty is not None and x.qty > 0])"),
    Case("latest_expiry", "MAX(lines.expiry)",
         _l_latest_expiry,
         "MAX([x.expiry for x in lines])"),
    Case("open_status", 'status IN ("draft", "pending", "review")',
         lambda r, c: r["status"] in IN_STATUSES,
         'status in ("draft", "pending", "review")'),
    Case("priority_flag", "AND(is_urgent, OR(priority >= 3, amount > 5000))",
         lambda r, c: r["is_urgent"] and (r["priority"] >= 3 or r["amount"] > 5000),
         "is_urgent and (priority >= 3 or amount > 5000)"),
    Case("even_line", "MOD(line_no, 2) = 0",
         lambda r, c: r["line_no"] % 2 == 0,
         "MOD(line_no, 2) == 0"),
    Case("review_date", "EDATE(order_date, 3)",
         lambda r, c: add_months(r["order_date"], 3),
         "EDATE(order_date, 3)"),
    Case("vat", "amount * 13%",
         lambda r, c: r["amount"] * D013,
         'amount * D("0.13")'),
    Case("discount_rate", "COALESCE(discount_pct, customer.default_discount, 0)",
         _l_coalesce,
         "COALESCE(discount_pct, customer.default_discount, 0)"),
    Case("line_ref", 'code & "/" & line_no',
         lambda r, c: r["code"] + "/" + str(r["line_no"]),
         'code + "/" + str(line_no)'),
    Case("grade", 'IFS(total >= 100000, "A", total >= 10000, "B", TRUE, "C")',
         _l_grade,
         '"A" if total >= 100000 else ("B" if total >= 10000 else "C")'),
    Case("net_price", "ROUND(price * (1 - COALESCE(discount_pct, 0) / 100), 2)",
         _l_net_price,
         "None if price is None else ROUND(price * (1 - COALESCE(discount_pct, D(0)) / 100), 2)"),
    Case("positive_value", "SUM(lines.qty * lines.price, lines.qty > 0)",
         lambda r, c: sum(q * line["price"] for line in r["lines"] if (q := line["qty"]) is not None and q > 0),
         "SUM([x.qty * x.price for x in lines if x.qty is not None and x.qty > 0])"),
    Case("remark_text", 'IF(ISBLANK(remark), "-", UPPER(TRIM(remark)))',
         _l_remark,
         '"-" if ISBLANK(remark) else UPPER(TRIM(remark))'),
)

# --- running --------------------------------------------------------------------------------------------------


def _time(run: Callable[[], list]) -> tuple[float, list]:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        results = run()
        return time.perf_counter() - start, results
    finally:
        gc.enable()


def _best(runs: dict[str, Callable[[], list]], repeats: int) -> dict[str, tuple[float, list]]:
    """Best time and results of each run; the runs take turns within each repeat, so that load from other
    processes falls on all of them alike."""
    best: dict[str, tuple[float, list]] = {}
    for _ in range(repeats):
        for key, run in runs.items():
            elapsed, results = _time(run)
            if key not in best or elapsed < best[key][0]:
                best[key] = (elapsed, results)
    return best


def _mismatch(expected: list, actual: list) -> int | None:
    """The index of the first record whose results differ in value or type, or None."""
    for index, (a, b) in enumerate(zip(expected, actual, strict=True)):
        if type(a) is not type(b) or a != b:
            return index
    return None


def _run_calls(function: Callable, records: list, context: Any) -> Callable[[], list]:
    return lambda: [function(r, context) for r in records]


def _run_simpleeval(evaluator: simpleeval.SimpleEval, text: str, parsed: Any, records: list) -> Callable[[], list]:
    def run() -> list:
        out = []
        append = out.append
        for r in records:
            evaluator.names = r
            append(evaluator.eval(text, previously_parsed=parsed))
        return out
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k records, one repeat (under a minute)")
    parser.add_argument("--records", type=int, help="number of records (default 100000; --quick 10000)")
    parser.add_argument("--repeats", type=int, help="best of N repeats (default 3; --quick 1)")
    parser.add_argument("--only", help="comma-separated formula names to run")
    parser.add_argument("--show-source", action="store_true", help="print each formula's generated Python")
    args = parser.parse_args(argv)
    count = args.records or (10_000 if args.quick else 100_000)
    repeats = args.repeats or (1 if args.quick else 3)
    cases = CASES
    if args.only:
        wanted = set(args.only.split(","))
        cases = tuple(case for case in CASES if case.name in wanted)

    began = time.perf_counter()
    catalog, registry = build_catalog(), builtin_registry()
    context = SimpleContext(now=NOW)
    records = generate(count)
    evaluator = simpleeval.EvalWithCompoundTypes(functions=simpleeval_functions(context))
    print(f"formula benchmark: {len(cases)} formulas x {count} records, best of {repeats}; "
          f"Python {sys.version.split()[0]}, simpleeval {version('simpleeval')}")
    print(f"{'formula':<16}{'jxc ms':>10}{'lambda ms':>11}{'simpleeval ms':>15}{'vs_lambda':>11}"
          f"{'vs_simpleeval':>15}")

    per_formula: dict[str, dict[str, Any]] = {}
    totals = {"jxc": 0.0, "lambda": 0.0, "se_jxc": 0.0, "simpleeval": 0.0}
    excluded: dict[str, str] = {}
    for case in cases:
        function = compile_python(check(case.formula, catalog, registry, "sales_order"), case.name)
        if args.show_source:
            print(function.__jxc_source__)
        runs = {"jxc": _run_calls(function, records, context), "lambda": _run_calls(case.baseline, records, context)}
        if case.simpleeval is not None:
            parsed = evaluator.parse(case.simpleeval)
            runs["simpleeval"] = _run_simpleeval(evaluator, case.simpleeval, parsed, records)
        best = _best(runs, repeats)
        (jxc_s, jxc_results), (lambda_s, lambda_results) = best["jxc"], best["lambda"]
        bad = _mismatch(lambda_results, jxc_results)
        if bad is not None:
            raise AssertionError(f"{case.name}: jxc gives {jxc_results[bad]!r} but the lambda gives "
                                 f"{lambda_results[bad]!r} for record {bad}")
        entry: dict[str, Any] = {
            "formula": case.formula, "jxc_ms": round(jxc_s * 1e3, 2), "lambda_ms": round(lambda_s * 1e3, 2),
            "vs_lambda": round(jxc_s / lambda_s, 3),
        }
        totals["jxc"] += jxc_s
        totals["lambda"] += lambda_s
        se_text = "-"
        if case.simpleeval is None:
            excluded[case.name] = "not expressible identically in simpleeval"
        else:
            se_s, se_results = best["simpleeval"]
            bad = _mismatch(jxc_results, se_results)
            if bad is not None:
                raise AssertionError(f"{case.name}: jxc gives {jxc_results[bad]!r} but simpleeval gives "
                                     f"{se_results[bad]!r} for record {bad}")
            entry.update(simpleeval=case.simpleeval, simpleeval_ms=round(se_s * 1e3, 2),
                         vs_simpleeval=round(se_s / jxc_s, 2))
            totals["se_jxc"] += jxc_s
            totals["simpleeval"] += se_s
            se_text = f"{se_s * 1e3:.1f}"
        per_formula[case.name] = entry
        vs_se = f"{entry['vs_simpleeval']:>15.1f}" if "vs_simpleeval" in entry else f"{'-':>15}"
        flag = "  <-- over goal" if entry["vs_lambda"] > GOAL_VS_LAMBDA else ""
        print(f"{case.name:<16}{jxc_s * 1e3:>10.1f}{lambda_s * 1e3:>11.1f}{se_text:>15}"
              f"{entry['vs_lambda']:>11.2f}{vs_se}{flag}")

    vs_lambda = totals["jxc"] / totals["lambda"]
    vs_simpleeval = totals["simpleeval"] / totals["se_jxc"] if totals["se_jxc"] else None
    print(f"{'total':<16}{totals['jxc'] * 1e3:>10.1f}{totals['lambda'] * 1e3:>11.1f}"
          f"{totals['simpleeval'] * 1e3:>15.1f}{vs_lambda:>11.2f}{vs_simpleeval or 0:>15.1f}")
    print(f"jxc results equal the lambdas' for all {count} records of every formula, and simpleeval's for "
          f"the {len(cases) - len(excluded)} formulas it covers. vs_lambda {vs_lambda:.2f} "
          f"(goal <= {GOAL_VS_LAMBDA}: {'met' if vs_lambda <= GOAL_VS_LAMBDA else 'NOT met'}); vs_simpleeval "
          f"{vs_simpleeval or 0:.1f} (goal >= {GOAL_VS_SIMPLEEVAL}: "
          f"{'met' if vs_simpleeval and vs_simpleeval >= GOAL_VS_SIMPLEEVAL else 'NOT met'}); "
          f"{time.perf_counter() - began:.1f} s in all")
    load = measure_load(repeats=max(repeats, 3))
    print(f"load of a generated app ({load['load_entities']} entities, {load['load_fields']} fields, "
          f"{load['load_formulas']} formulas): {load['load_ms']:.0f} ms (goal < {GOAL_LOAD_MS} ms: "
          f"{'met' if load['load_ms'] < GOAL_LOAD_MS else 'NOT met'}); yaml.safe_load of the same file "
          f"{load['yaml_ms']:.0f} ms")
    result = {
        "benchmark": "formula",
        "records": count,
        "formulas": len(cases),
        "repeats": repeats,
        "jxc_ms": round(totals["jxc"] * 1e3, 1),
        "lambda_ms": round(totals["lambda"] * 1e3, 1),
        "simpleeval_ms": round(totals["simpleeval"] * 1e3, 1),
        "vs_lambda": round(vs_lambda, 3),
        "vs_simpleeval": round(vs_simpleeval, 2) if vs_simpleeval is not None else None,
        "goal_vs_lambda": GOAL_VS_LAMBDA,
        "goal_vs_simpleeval": GOAL_VS_SIMPLEEVAL,
        "simpleeval_covered": len(cases) - len(excluded),
        "simpleeval_excluded": excluded,
        "simpleeval_mode": "parse once per formula (SimpleEval.parse), then eval(text, previously_parsed=...) "
                           "per record with names=record; EvalWithCompoundTypes",
        "python": sys.version.split()[0],
        **load,
        "goal_load_ms": GOAL_LOAD_MS,
        "per_formula": per_formula,
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


def measure_load(repeats: int) -> dict[str, Any]:
    """Best-of-N time to load, check and compile a generated app, and to merely yaml.safe_load it."""
    import tempfile
    from pathlib import Path

    from dsl.loader import load_app
    from dsl.summary import iter_formulas

    with tempfile.TemporaryDirectory() as folder:
        app_dir = generate_app(Path(folder) / "large", entities=50, fields_per_entity=12, formulas=300)
        load_times, yaml_times = [], []
        app = None
        for _ in range(repeats):
            began = time.perf_counter()
            app = load_app(app_dir)
            load_times.append(time.perf_counter() - began)
            began = time.perf_counter()
            yaml.safe_load((app_dir / "app.yaml").read_text(encoding="utf-8"))
            yaml_times.append(time.perf_counter() - began)
    assert app is not None
    top = [e for e in app.entities.values() if e.parent is None]
    load_ms, yaml_ms = min(load_times) * 1e3, min(yaml_times) * 1e3
    return {"load_ms": round(load_ms, 1), "yaml_ms": round(yaml_ms, 1), "load_vs_yaml": round(load_ms / yaml_ms, 2),
            "load_entities": len(top), "load_fields": sum(len(e.fields) for e in top),
            "load_formulas": sum(1 for _ in iter_formulas(app))}


if __name__ == "__main__":
    sys.exit(main())
