"""Alerts: scope, condition, trigger and schedule, recipients, channels and the message template."""

from __future__ import annotations

import datetime as dt

from dsl.formula import types as t

STOCK = """
stock: {item: item, warehouse: warehouse}
"""

ENTITIES = """
roles:
  buyer: {label: 采购员}
  boss: {label: 老板}
entities:
  item:
    fields:
      code: string
      name: string
      safety_stock: decimal
  warehouse:
    fields:
      code: string
  purchase_order:
    kind: document
    fields:
      remark: text
      due_date: date
      lines:
        type: table
        fields:
          item: {type: link, link: item}
          qty: decimal
      total: money
"""


def test_alerts_are_built(shop):
    app = shop.load(STOCK + ENTITIES + """
alerts:
  low_stock:
    label: 库存不足
    scope: stock_balance
    condition: available < item.safety_stock
    schedule: daily 08:00
    repeat: 4h
    recipients: {roles: [buyer, boss], users: [zhang]}
    channels: [inbox, wecom]
    message: |
      {{ record.item.name }} 库存不足：{{ record.available }}
      {% if record.available < 0 %}已为负数{% endif %}
      {{ link }}
  big_order:
    scope: purchase_order
    condition: total > 100000
    recipients: {users: [boss]}
    message: "大额订单 {{ record.doc_no }}，合计 {{ record.total }}（{{ app.title }} {{ now }}）"
  overdue:
    scope: purchase_order
    condition: due_date < TODAY()
    trigger: schedule
    schedule: 30 8 * * 1-5
    repeat: 1d
    recipients: {roles: [buyer]}
    message: '{% for line in record.lines %}{{ line.qty }}{% endfor %}'
""")
    low, big, overdue = app.alerts["low_stock"], app.alerts["big_order"], app.alerts["overdue"]
    assert low.label.zh == "库存不足" and low.scope == "stock_balance"
    assert low.condition.type == t.BOOL and low.condition.source == "available < item.safety_stock"
    assert low.trigger == "schedule" and low.schedule is not None
    assert (low.schedule.text, low.schedule.cron) == ("daily 08:00", "0 8 * * *")
    assert low.repeat == dt.timedelta(hours=4)
    assert low.roles == ("buyer", "boss") and low.users == ("zhang",) and low.channels == ("inbox", "wecom")
    assert low.message.startswith("{{ record.item.name }}")
    assert big.trigger == "change" and big.schedule is None and big.repeat is None
    assert big.channels == ("inbox",) and big.roles == () and big.users == ("boss",)
    assert big.label.en == "Big order"
    assert overdue.schedule is not None and overdue.schedule.cron == "30 8 * * 1-5"
    assert overdue.repeat == dt.timedelta(days=1)


def test_scope_mistakes(shop):
    text = shop.problems(ENTITIES + """
alerts:
  a:
    scope: stock_balance
    condition: available < 0
    recipients: {roles: [buyer]}
    message: x
  b:
    scope: purchase_ordr
    condition: TRUE
    recipients: {roles: [buyer]}
    message: x
  c:
    scope: purchase_order_lines
    condition: qty > 0
    recipients: {roles: [buyer]}
    message: x
""")
    assert (f"{shop.at('stock_balance')}: error: scope: stock_balance exists only when app.yaml has stock: "
            "settings") in text
    assert "hint: add stock: {item: item, warehouse: warehouse} to app.yaml" in text
    assert f"{shop.at('purchase_ordr')}: error: scope: there is no entity 'purchase_ordr'" in text
    assert "did you mean 'purchase_order'?" in text
    assert (f"{shop.at('purchase_order_lines')}: error: scope: 'purchase_order_lines' is the table "
            "purchase_order.lines; an alert watches a whole record") in text
    assert text.count("error:") == 3  # no second wave about the conditions


def test_condition_trigger_and_schedule_mistakes(shop):
    text = shop.problems(STOCK + ENTITIES + """
alerts:
  a:
    scope: purchase_order
    condition: total * 2
    trigger: schedule
    recipients: {roles: [buyer]}
    message: x
  b:
    scope: purchase_order
    condition: totl > 1
    trigger: change
    schedule: daily 08:00
    recipients: {roles: [buyer]}
    message: x
  c:
    scope: stock_balance
    condition: on_hand < 0
    schedule: daily 25:00
    recipients: {roles: [buyer]}
    message: x
  d:
    scope: stock_balance
    condition: on_hand < 0
    schedule: "weekly mon 08:00 sharp"
    recipients: {roles: [buyer]}
    message: x
  e:
    scope: stock_balance
    condition: on_hand < 0
    schedule: "0 8 * * MON"
    recipients: {roles: [buyer]}
    message: x
  f:
    scope: stock_balance
    condition: on_hand < 0
    schedule: at noon
    recipients: {roles: [buyer]}
    message: x
""")
    assert (f"{shop.at('total * 2')}: error: an alert's condition must give TRUE/FALSE (a condition), but this "
            "formula gives a number") in text
    assert f"{shop.at('schedule', 1)}: error: trigger: schedule needs schedule: (when to check)" in text
    assert f"{shop.at('totl')}: error: purchase_order has no field 'totl'" in text
    assert (f"{shop.at('schedule:', 1)}: error: schedule: only applies to trigger: schedule; this alert is "
            "checked on every change") in text
    assert f"{shop.at('25:00')}: error: '25:00' is not a time of day; write HH:MM from 00:00 to 23:59" in text
    assert f"{shop.at('sharp')}: error: write weekly mon HH:MM, not 'weekly mon 08:00 sharp'" in text
    assert (f"{shop.at('MON')}: error: cron day of week field: 'MON' is not a number, *, */n, a range a-b or a "
            "list a,b (names such as MON or JAN are not accepted)") in text
    assert (f"{shop.at('at noon')}: error: unknown schedule 'at noon'; write daily HH:MM, weekly mon HH:MM, "
            "monthly D HH:MM (D from 1 to 28), hourly, every Nm, every Nh, or a 5-field cron line such as "
            "0 8 * * 1-5") in text


def test_recipients_and_channels(shop):
    text = shop.problems(ENTITIES + """
alerts:
  nobody:
    scope: purchase_order
    condition: total > 0
    message: x
  empty:
    scope: purchase_order
    condition: total > 0
    recipients: {roles: []}
    message: x
  typo:
    scope: purchase_order
    condition: total > 0
    recipients: {roles: [byer]}
    channels: [inbox, wecon, fax]
    message: x
""")
    assert f"{shop.at('nobody')}: error: nobody would receive this alert" in text
    assert f"{shop.at('recipients')}: error: nobody would receive this alert" in text
    assert f"{shop.at('byer')}: error: recipients: there is no role 'byer'" in text
    assert text.count("nobody would receive") == 2  # an unknown role is reported as such, not as nobody
    assert f"{shop.at('wecon')}: error: there is no notification channel 'wecon'" in text
    assert "hint: did you mean 'wecom'?" in text
    assert f"{shop.at('fax')}: error: there is no notification channel 'fax'" in text
    assert "hint: available channels: dingtalk, email, inbox, wecom" in text


def test_template_syntax_errors_are_located(shop):
    text = shop.problems(ENTITIES + """
alerts:
  one_line:
    scope: purchase_order
    condition: total > 0
    recipients: {roles: [buyer]}
    message: "订单 {{ record.doc_no }"
  block:
    scope: purchase_order
    condition: total > 0
    recipients: {roles: [buyer]}
    message: |
      订单 {{ record.doc_no }}
        {% if record.total > 5 %}
      大额
  filter:
    scope: purchase_order
    condition: total > 0
    recipients: {roles: [buyer]}
    message: "{{ record.total | money }}"
""")
    assert (f"{shop.at(chr(34) + '订单')}: error: the message template has an error: unexpected '}}'") in text
    block_line = shop.at("{% if record.total")  # the template's line 2, at its first character
    assert f"{block_line}: error: the message template has an error: Unexpected end of template." in text
    assert f"{shop.at(chr(34) + '{{ record.total')}: error: the message template has an error: No filter named " \
        "'money'." in text


def test_template_fields_and_variables(shop):
    text = shop.problems(STOCK + ENTITIES + """
alerts:
  a:
    scope: purchase_order
    condition: total > 0
    recipients: {roles: [buyer]}
    message: |
      订单 {{ record.doc_no }}，合计 {{ record.totl }}
      备注 {{ record['remarks'] }} {{ user.name }} {{ record.created_by.nam }}
  b:
    scope: stock_balance
    condition: on_hand < 0
    schedule: hourly
    recipients: {roles: [buyer]}
    message: "{{ record.item.nmae }} {{ record.qtty }}"
""")
    assert (f"{shop.at('totl')}: error: the message uses record.totl, but purchase_order has no field 'totl'"
            in text)
    assert "hint: did you mean 'total'?" in text
    assert (f"{shop.at('remarks')}: error: the message uses record.remarks, but purchase_order has no field "
            "'remarks'") in text
    assert (f"{shop.at('user.name')}: error: the message uses 'user', which is not available; a message can "
            "use record, link, app, now") in text
    assert f"{shop.at('nam ')}: error: the message uses record.created_by.nam, but user has no field 'nam'" in text
    assert f"{shop.at('nmae')}: error: the message uses record.item.nmae, but item has no field 'nmae'" in text
    assert f"{shop.at('qtty')}: error: the message uses record.qtty, but stock_balance has no field 'qtty'" in text
    assert text.count("error:") == 6
