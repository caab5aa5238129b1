"""Built-in barcode plugin: reads GS1 barcodes (GS1-128, GS1 DataMatrix/QR, GS1 Digital Link, EAN/UPC).

A thin adapter over biip (https://github.com/jodal/biip), which does the parsing: AIs, FNC1/GS separators,
symbology identifiers, check digits, dates (day 00 is the last day of the month). What it reads:

    (01) GTIN → code (as printed under an EAN-13: no leading zero) and gtin (14 digits)
    (02) GTIN of the contained items, when there is no (01)
    (10) batch/lot → batch            (21) serial → serial
    (17) expiry → expiry              (11) production date → produced     (15) best before → best_before
    (30) / (37) count → quantity

A bare 8, 12, 13 or 14-digit code with a right check digit is read as a GTIN too (turn off with the
setting `plain_gtin: false`). A code that is clearly GS1 (parentheses, a GS1 symbology identifier, a GS
separator) but wrong gives an error for the user, e.g. a wrong check digit.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from engine import hookimpl
from engine.hookspecs import ScanResult

if TYPE_CHECKING:
    from biip.gtin import Gtin

NAME = "gs1"
# ]C1 GS1-128, ]e0 GS1 DataBar, ]d2 GS1 DataMatrix, ]Q3 GS1 QR Code, ]J1 GS1 DotCode
_GS1_SYMBOLOGIES = ("]C1", "]e0", "]d2", "]Q3", "]J1")
_HRI = re.compile(r"\s*\(\d{2,4}\)")
_PLAIN_GTIN = re.compile(r"\d{8}|\d{12,14}")
_GS = "\x1d"


@hookimpl
def jxc_settings_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "plain_gtin": {"type": "boolean", "description": "read a bare EAN/UPC number as a GTIN (default true)"},
        },
        "additionalProperties": False,
    }


@hookimpl(trylast=True)
def jxc_scan(app: Any, text: str) -> ScanResult | None:
    settings = (getattr(app, "plugins", None) or {}).get(NAME) or {}
    return read(text, plain_gtin=settings.get("plain_gtin", True))


def read(text: str, *, plain_gtin: bool = True) -> ScanResult | None:
    """What a GS1 barcode says, or None if it is not one; `{"error": ...}` if it is one but is wrong."""
    import biip  # here, not at the top: loading its tables takes 0.2 s, which every `jxc` command would pay
    from biip.gs1_messages import GS1Message
    from biip.gtin import Gtin

    text = text.strip()
    if _PLAIN_GTIN.fullmatch(text):
        if not plain_gtin:
            return None
        try:
            gtin = Gtin.parse(text)
        except biip.ParseError:  # an internal code that only looks like an EAN: leave it to others
            return None
        return {"kind": "item", "code": _natural(gtin), "gtin": gtin.as_gtin_14()}
    explicit = bool(_HRI.match(text)) or text.startswith(_GS1_SYMBOLOGIES) or _GS in text
    try:
        if _HRI.match(text):
            elements = GS1Message.parse_hri(text).element_strings
        else:
            parsed = biip.parse(text.lstrip(_GS))
            if parsed.gs1_message is not None:
                elements = parsed.gs1_message.element_strings
            elif parsed.gs1_digital_link_uri is not None:
                elements = parsed.gs1_digital_link_uri.element_strings
                explicit = True
            elif explicit:
                return {"error": f"not a readable GS1 barcode: {parsed.gs1_message_error}"}
            else:
                return None
    except biip.ParseError as error:
        return {"error": f"not a readable GS1 barcode: {error}"} if explicit else None
    return _result(elements, explicit or text.startswith("01"))


def _result(elements: Any, explicit: bool) -> ScanResult | None:
    found = {element.ai.ai: element for element in elements}
    item = found.get("01") or found.get("02")
    if item is None:
        return None  # GS1, but not about an item (e.g. only an SSCC): not ours to decide
    if item.gtin is None:
        return {"error": f"wrong GTIN in the barcode: {item.gtin_error}"} if explicit else None
    result: ScanResult = {"kind": "item", "code": _natural(item.gtin), "gtin": item.gtin.as_gtin_14()}
    for ai, key in (("10", "batch"), ("21", "serial")):
        if ai in found:
            result[key] = found[ai].value
    for ai, key in (("17", "expiry"), ("11", "produced"), ("15", "best_before")):
        if ai in found and found[ai].date is not None:
            result[key] = found[ai].date
    for ai in ("30", "37"):
        if ai in found:
            result["quantity"] = int(found[ai].value)
    return result


def _natural(gtin: Gtin) -> str:
    """The GTIN as printed on the product: 13 digits for an EAN-13, 8 for an EAN-8, 12 for a UPC-A."""
    return gtin.as_gtin_14()[-gtin.format.length:]
