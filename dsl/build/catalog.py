"""System columns and system entities, and the formula catalog built from the entity shapes."""

from __future__ import annotations

from dsl.build.context import EntityShape, FieldShape, shape_type
from dsl.formula import types as t
from dsl.formula.catalog import Catalog, EntityInfo, FieldInfo
from dsl.model import EntityKind, FieldType, StockSettings

# Every top-level record has these; documents have more; child rows have parent_id and idx.
COMMON_COLUMNS: dict[str, FieldType] = {
    "id": FieldType.INT, "created_at": FieldType.DATETIME, "modified_at": FieldType.DATETIME,
    "version": FieldType.INT,
}
USER_COLUMNS = ("created_by", "modified_by")
DOCUMENT_COLUMNS: dict[str, FieldType] = {"doc_no": FieldType.STRING, "docstatus": FieldType.CHOICE}
DOCSTATUS_VALUES = ("draft", "submitted", "cancelled")


def _system(name: str, kind: FieldType, **options: object) -> FieldShape:
    return FieldShape(name, kind, None, **options)  # type: ignore[arg-type]


def add_system_columns(shape: EntityShape, workflow_field: str | None) -> None:
    columns: dict[str, FieldShape] = {}
    if shape.kind is EntityKind.CHILD:
        columns["id"] = _system("id", FieldType.INT)
        columns["idx"] = _system("idx", FieldType.INT)
        columns["parent_id"] = _system("parent_id", FieldType.LINK, link=shape.parent)
    else:
        for name, kind in COMMON_COLUMNS.items():
            columns[name] = _system(name, kind)
        for name in USER_COLUMNS:
            columns[name] = _system(name, FieldType.LINK, link="user")
        if shape.kind is EntityKind.DOCUMENT:
            for name, kind in DOCUMENT_COLUMNS.items():
                columns[name] = _system(name, kind)
            columns["amended_from"] = _system("amended_from", FieldType.LINK, link=shape.name)
    if workflow_field and workflow_field not in shape.fields:
        columns[workflow_field] = _system(workflow_field, FieldType.STRING)
    for name, column in columns.items():
        shape.fields.setdefault(name, column)


USER_FIELDS = (("id", FieldType.INT), ("name", FieldType.STRING), ("full_name", FieldType.STRING),
               ("email", FieldType.STRING))


def user_entity() -> EntityShape:
    """jxc's users, which formulas read through CURRENT_USER() and created_by / modified_by."""
    user = EntityShape("user", EntityKind.MASTER, None, system=True)
    for name, kind in USER_FIELDS:
        user.fields[name] = _system(name, kind)
    return user


def system_entities(stock: StockSettings | None) -> list[EntityShape]:
    """Entities the engine owns that formulas can still read: stock balances and batches."""
    shapes: list[EntityShape] = []
    if stock is not None:
        balance = EntityShape("stock_balance", EntityKind.MASTER, None, system=True)
        for name, kind, options in (
            ("id", FieldType.INT, {}),
            ("item", FieldType.LINK, {"link": stock.item}),
            ("warehouse", FieldType.LINK, {"link": stock.warehouse}),
            ("batch", FieldType.LINK, {"link": "stock_batch"}),
            ("on_hand", FieldType.DECIMAL, {"scale": 6}),
            ("reserved", FieldType.DECIMAL, {"scale": 6}),
            ("available", FieldType.DECIMAL, {"scale": 6}),
            ("value", FieldType.MONEY, {"scale": 2}),
        ):
            balance.fields[name] = _system(name, kind, **options)
        batch = EntityShape("stock_batch", EntityKind.MASTER, None, system=True)
        for name, kind, options in (
            ("id", FieldType.INT, {}),
            ("batch_no", FieldType.STRING, {}),
            ("item", FieldType.LINK, {"link": stock.item}),
            ("production_date", FieldType.DATE, {}),
            ("expiry", FieldType.DATE, {}),
            ("supplier_batch", FieldType.STRING, {}),
            ("on_hand", FieldType.DECIMAL, {"scale": 6}),
        ):
            batch.fields[name] = _system(name, kind, **options)
        shapes += [balance, batch]
    return shapes


def build_catalog(shapes: dict[str, EntityShape], labels: dict[tuple[str, str], tuple[str, ...]]) -> Catalog:
    infos = []
    for shape in shapes.values():
        fields = []
        for name, field in shape.fields.items():
            scale = field.scale
            storage = "scaled" if field.type in (FieldType.DECIMAL, FieldType.MONEY, FieldType.PERCENT) else None
            fields.append(FieldInfo(name, shape_type(field), labels.get((shape.name, name), ()), scale, storage))
        if shape.kind is EntityKind.CHILD and shape.parent:
            pass  # `parent.x` is resolved by the checker through EntityInfo.parent
        infos.append(EntityInfo.build(shape.name, fields, parent=shape.parent))
    return Catalog.build(infos)


def docstatus_type() -> t.Type:
    return t.TEXT
