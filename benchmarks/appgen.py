"""Generate a large, valid app definition (for the load benchmark and scale tests)."""

from __future__ import annotations

import random
from pathlib import Path

import yaml

FORMULAS = [
    "qty * price",
    "ROUND(qty * price * 1.13, 2)",
    'IF(qty > 100, "bulk", "normal")',
    "COALESCE(price, 0) + 1",
    "DAYS_BETWEEN(start_date, TODAY())",
    'UPPER(LEFT(code, 3)) & "-" & qty',
    "MAX(qty, 1) - MIN(price, 2)",
    "qty IN (1, 2, 3) OR price > 10",
    "MOD(qty, 7) + ABS(price)",
    "EDATE(start_date, 1)",
]
TYPES = {"qty": "decimal", "price": "money", "code": "string", "start_date": "date"}
RESULT_TYPES = ["decimal", "money", "string", "decimal", "int", "string", "decimal", "bool", "decimal", "date"]


def generate(folder: Path, entities: int = 50, fields_per_entity: int = 12, formulas: int = 300,
             seed: int = 7) -> Path:
    """Write apps/<name>/app.yaml with `entities` entities of `fields_per_entity` fields; `formulas` of the
    fields are computed (spread evenly), and every entity links to the previous one."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    per_entity = formulas // entities
    definitions: dict[str, dict] = {}
    for index in range(entities):
        name = f"entity_{index:03d}"
        fields: dict[str, object] = {
            field: {"type": kind, "label": f"{field}_{index}"} for field, kind in TYPES.items()
        }
        if index:
            fields["previous"] = {"type": "link", "link": f"entity_{index - 1:03d}"}
        computed = 0
        while len(fields) < fields_per_entity:
            position = len(fields)
            if computed < per_entity:
                choice = (index + computed) % len(FORMULAS)
                fields[f"f_{position}"] = {"type": RESULT_TYPES[choice], "formula": FORMULAS[choice]}
                computed += 1
            else:
                fields[f"extra_{position}"] = {"type": rng.choice(["string", "int", "decimal", "date", "bool"])}
        definitions[name] = {"label": f"实体 {index}", "fields": fields}
    app = {"name": folder.name, "title": {"zh": "大型应用", "en": "Large app"}, "entities": definitions}
    (folder / "app.yaml").write_text(yaml.safe_dump(app, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder
