"""The app header (app.yaml): name, title, version, language, time zone, plugins, stock settings."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import jsonschema

from dsl.assemble import Raw
from dsl.build.context import BuildContext, label_of
from dsl.model import EntityKind, FieldType, Label, StockSettings
from dsl.problems import Problem, did_you_mean

DEFAULT_TIMEZONE = "Asia/Shanghai"


def timezone_of(ctx: BuildContext, header: Raw) -> str:
    value = header.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(value, str):
        return DEFAULT_TIMEZONE
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        ctx.report(header.at("timezone"), f"unknown time zone '{value}'",
                   hint=did_you_mean(value, available_timezones()) or "e.g. Asia/Shanghai")
        return DEFAULT_TIMEZONE
    return value


def plugins_of(ctx: BuildContext, header: Raw,
               known: Mapping[str, Mapping[str, Any] | None] | None) -> dict[str, dict[str, Any]]:
    """Enabled plugins with their settings; each plugin's own JSON Schema checks its settings."""
    result: dict[str, dict[str, Any]] = {}
    for name, raw in header.at("plugins").items():
        settings = raw.data if isinstance(raw.data, dict) else {}
        if known is not None and name not in known:
            ctx.report(raw, f"there is no plugin '{name}'", key=True,
                       hint=did_you_mean(name, known) or ("installed plugins: " + ", ".join(sorted(known))
                                                          if known else "no plugins are installed"))
            continue
        schema = known.get(name) if known else None
        if schema:
            validator = jsonschema.Draft202012Validator(schema)
            for error in validator.iter_errors(settings):
                path = tuple(error.absolute_path)
                ctx.problems.append(Problem(f"plugin {name}: {error.message}", raw.loc(*path), raw.where(*path)))
        result[name] = settings
    return result


def stock_settings(ctx: BuildContext, header: Raw) -> StockSettings | None:
    raw = header.at("stock")
    if not isinstance(raw.data, dict):
        return None
    ok = True
    shapes = {}
    for key in ("item", "warehouse", "location"):
        if raw.get(key) is None:
            continue
        shape = ctx.entity_ref(raw.at(key), f"stock.{key}")
        if shape is None:
            ok = False
        elif shape.kind is not EntityKind.MASTER:
            ctx.report(raw.at(key), f"stock.{key}: '{shape.name}' must be master data, not a document")
            ok = False
        shapes[key] = shape
    item = shapes.get("item")
    field_kinds = {
        "safety_stock": ("a number", (FieldType.DECIMAL, FieldType.INT)),
        "reorder_level": ("a number", (FieldType.DECIMAL, FieldType.INT)),
        "batch_required": ("a yes/no (bool)", (FieldType.BOOL,)),
        "shelf_life_days": ("a whole number", (FieldType.INT,)),
        "valuation_field": ("a choice", (FieldType.CHOICE,)),
        "allow_negative_field": ("a yes/no (bool)", (FieldType.BOOL,)),
        "min_shelf_life_field": ("a whole number", (FieldType.INT,)),
    }
    named: dict[str, str | None] = {}
    for key, (wanted, kinds) in field_kinds.items():
        named[key] = None
        if raw.get(key) is None or item is None:
            continue
        found = ctx.field_ref(raw.at(key), item, f"stock.{key}", allow_system=False)
        if found is None:
            ok = False
        elif found.type not in kinds:
            ctx.report(raw.at(key), f"stock.{key}: {item.name}.{found.name} must be {wanted}, not a {found.type} field")
            ok = False
        else:
            named[key] = found.name
    if not ok or not isinstance(raw.get("item"), str) or not isinstance(raw.get("warehouse"), str):
        return None  # what is missing or wrong has been reported
    tolerance = raw.get("count_tolerance", 3)
    return StockSettings(
        item=raw.data["item"], warehouse=raw.data["warehouse"], location=raw.get("location"),
        negative_stock=raw.get("negative_stock") is True, valuation=raw.get("valuation", "moving_average"),
        safety_stock=named["safety_stock"], reorder_level=named["reorder_level"],
        batch_required=named["batch_required"], shelf_life_days=named["shelf_life_days"],
        valuation_field=named["valuation_field"], allow_negative_field=named["allow_negative_field"],
        min_shelf_life_field=named["min_shelf_life_field"],
        min_remaining_shelf_life_days=raw.get("min_remaining_shelf_life_days"),
        count_tolerance=Decimal(str(tolerance)),
    )


def title_of(header: Raw) -> Label:
    return label_of(header.at("title")) or Label(en=str(header.get("name", "app")))
