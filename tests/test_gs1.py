"""The built-in GS1 barcode plugin (plugins/gs1.py): real GS1 barcodes as scanners send them."""

from __future__ import annotations

import datetime as dt

import pytest

from dsl.loader import load_app
from dsl.problems import CheckFailed
from engine.plugins import formula_registry, plugin_manager, scan, settings_schemas
from plugins.gs1 import read

ITEM = {"kind": "item", "code": "9506000134352", "gtin": "09506000134352"}


@pytest.mark.parametrize("text", [
    "(01)09506000134352(17)201225(10)ABC123",  # human-readable form, as printed under a GS1-128
    "(01) 09506000134352 (17) 201225 (10) ABC123",  # typed by hand, with spaces
    "010950600013435217201225" "10ABC123",  # raw: a variable-length AI last needs no separator
    "0109506000134352" "10ABC123\x1d" "17201225",  # raw: GS (FNC1) ends the variable-length batch
    "\x1d0109506000134352" "10ABC123\x1d" "17201225",  # some scanners send the leading FNC1 too
    "]C1010950600013435217201225" "10ABC123",  # with the GS1-128 symbology identifier
    "]d2010950600013435217201225" "10ABC123",  # GS1 DataMatrix
    "https://id.gs1.org/01/09506000134352/10/ABC123?17=201225",  # GS1 Digital Link in a QR code
])
def test_gtin_batch_and_expiry_in_every_form(text):
    assert read(text) == {**ITEM, "batch": "ABC123", "expiry": dt.date(2020, 12, 25)}


def test_expiry_day_00_is_the_last_day_of_the_month():
    assert read("(01)09506000134352(17)240200")["expiry"] == dt.date(2024, 2, 29)
    assert read("0109506000134352" "17201200")["expiry"] == dt.date(2020, 12, 31)


def test_production_date_serial_and_counts():
    assert read("(01)09506000134352(11)200101(21)S-0001\x1d") == {
        **ITEM, "produced": dt.date(2020, 1, 1), "serial": "S-0001"}
    assert read("0109506000134352" "30" "12")["quantity"] == 12  # variable count
    # a carton label: (02) the items inside, (37) how many
    assert read("(02)09506000134352(37)24(10)L7") == {**ITEM, "quantity": 24, "batch": "L7"}


def test_bare_ean_and_upc_numbers_are_gtins():
    assert read("9506000134352") == ITEM  # EAN-13
    assert read("96385074") == {"kind": "item", "code": "96385074", "gtin": "00000096385074"}  # EAN-8
    assert read("036000291452") == {"kind": "item", "code": "036000291452", "gtin": "00036000291452"}  # UPC-A
    assert read("9506000134352", plain_gtin=False) is None


def test_a_wrong_check_digit_in_a_gs1_code_is_a_clear_error():
    assert read("(01)09506000134353(17)201225(10)ABC123") == {
        "error": "wrong GTIN in the barcode: Invalid GTIN check digit for '09506000134353': Expected 2, got 3."}
    assert "Expected 2, got 3" in read("0109506000134353" "10ABC")["error"]


def test_a_bare_number_with_a_wrong_check_digit_is_not_recognised():
    # it may be an internal item code that only looks like an EAN: another plugin (or the item code) may know it
    assert read("9506000134353") is None


def test_other_codes_are_not_recognised():
    for text in ("hello", "SAMPLE:1", "A-100", "10ABC123", "(00)106141411234567897", "https://example.com/x", ""):
        assert read(text) is None, text


def test_an_impossible_date_in_a_gs1_code_is_an_error():
    assert read("(01)09506000134352(17)201300")["error"].startswith("not a readable GS1 barcode: ")
    assert read("]C1garbage")["error"].startswith("not a readable GS1 barcode: ")


def test_the_plugin_is_built_in_and_asked_through_scan():
    manager = plugin_manager(entry_points=False)
    assert manager.get_plugin("gs1") is not None
    assert scan(manager, None, "(01)09506000134352(10)B1\r\n") == {**ITEM, "batch": "B1"}
    assert scan(manager, None, "\r\n") is None


def test_an_app_can_turn_off_bare_numbers(shop):
    manager = plugin_manager(entry_points=False)
    shop.write("plugins:\n  gs1: {plain_gtin: false}\nentities:\n  item:\n    fields: {code: string}\n")
    app = load_app("apps/shop", registry=formula_registry(manager), plugins=settings_schemas(manager))
    assert scan(manager, app, "9506000134352") is None
    assert scan(manager, app, "(01)09506000134352")["code"] == "9506000134352"


def test_its_settings_are_checked(shop):
    manager = plugin_manager(entry_points=False)
    shop.write("plugins:\n  gs1: {plain_gtin: no_thanks}\nentities:\n  item:\n    fields: {code: string}\n")
    with pytest.raises(CheckFailed) as caught:
        load_app("apps/shop", registry=formula_registry(manager), plugins=settings_schemas(manager))
    assert f"{shop.at('no_thanks')}: error: plugin gs1: 'no_thanks' is not of type 'boolean'" in str(caught.value)
