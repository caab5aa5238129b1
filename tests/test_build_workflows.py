"""Workflows: states, transitions, approval routing by guards, and every mistake located."""

from __future__ import annotations

from dsl.formula import types as t

ENTITIES = """
roles:
  clerk: {label: 采购员}
  dept_head: {label: 部门经理}
  general_manager: {label: 总经理}
entities:
  supplier:
    fields:
      code: string
      rating: int
      status: {type: choice, options: {new: 新建, active: 启用}}
  purchase_order:
    kind: document
    fields:
      supplier: {type: link, link: supplier}
      remark: text
      level: int
      stage: string
      lines:
        type: table
        fields:
          qty: decimal
          price: money
          amount: {type: money, formula: qty * price}
      total: {type: money, formula: SUM(lines.amount)}
"""

APPROVAL = ENTITIES + """
workflows:
  po_approval:
    entity: purchase_order
    label: {zh: 采购审批, en: PO approval}
    allow_self_approval: true
    states:
      draft: {label: 草稿}
      pending_head: {label: 待部门审批}
      pending_gm: {label: 待总经理审批}
      approved: {label: 已批准, submit: true}
      rejected: {label: 已驳回}
      cancelled: {label: 已取消, cancel: true}
    transitions:
      - {action: send, label: 提交审批, from: draft, to: pending_head, roles: [clerk], requires: [supplier]}
      - {action: approve, from: pending_head, to: approved, roles: [dept_head], guard: total <= 50000}
      - {action: escalate, from: pending_head, to: pending_gm, roles: [dept_head], guard: total > 50000}
      - {action: gm_approve, from: pending_gm, to: approved, roles: [general_manager]}
      - {action: reject, from: [pending_head, pending_gm], to: rejected, comment: required}
      - {action: reopen, from: rejected, to: draft, comment: none}
      - {action: cancel, from: approved, to: cancelled}
"""


def test_approval_routing_by_guards(shop):
    app = shop.load(APPROVAL)
    workflow = app.workflows["po_approval"]
    assert workflow.entity == "purchase_order" and workflow.state_field == "workflow_state"
    assert workflow.label.zh == "采购审批" and workflow.allow_self_approval is True
    assert list(workflow.states) == ["draft", "pending_head", "pending_gm", "approved", "rejected", "cancelled"]
    assert workflow.initial == "draft"
    assert [name for name, state in workflow.states.items() if state.initial] == ["draft"]
    assert workflow.states["approved"].submit and not workflow.states["approved"].cancel
    assert workflow.states["cancelled"].cancel
    assert workflow.states["pending_gm"].label.zh == "待总经理审批"
    send, approve, escalate, gm_approve, reject, reopen, cancel = workflow.transitions
    assert send.label.zh == "提交审批" and send.sources == ("draft",) and send.target == "pending_head"
    assert send.roles == ("clerk",) and send.requires == ("supplier",) and send.guard is None
    assert send.comment == "optional"
    assert approve.guard is not None and approve.guard.source == "total <= 50000" and approve.guard.type == t.BOOL
    assert escalate.guard is not None and escalate.guard.python({"total": 60000}) is True
    assert approve.guard.python({"total": 60000}) is False
    assert gm_approve.roles == ("general_manager",) and gm_approve.target == "approved"
    assert reject.sources == ("pending_head", "pending_gm") and reject.comment == "required"
    assert reopen.comment == "none" and reopen.label.en == "Reopen"
    assert cancel.target == "cancelled"
    # the state column exists for formulas
    assert "workflow_state" in app.catalog.entity("purchase_order").fields


def test_explicit_initial_state_and_own_choice_field(shop):
    app = shop.load(ENTITIES + """
workflows:
  supplier_review:
    entity: supplier
    field: status
    states:
      active: {}
      new: {initial: true}
    transitions:
      - {action: activate, from: new, to: active}
""")
    workflow = app.workflows["supplier_review"]
    assert workflow.initial == "new" and workflow.state_field == "status"
    assert workflow.states["new"].initial and not workflow.states["active"].initial
    assert workflow.allow_self_approval is False
    assert workflow.label.en == "Supplier review"


def test_unknown_entity_and_second_workflow(shop):
    text = shop.problems(ENTITIES + """
workflows:
  first:
    entity: purchase_order
    states: {draft: {}}
    transitions: [{action: a, from: draft, to: draft}]
  second:
    entity: purchase_order
    states: {draft: {}}
    transitions: [{action: a, from: draft, to: draft}]
  third:
    entity: purchase_ordr
    states: {draft: {}}
    transitions: [{action: a, from: draft, to: draft}]
""")
    first = shop.at("first:")
    assert (f"{shop.at('purchase_order', 3)}: error: purchase_order already has workflow 'first' (at {first}); "
            "workflow 'second' cannot be a second one") in text
    assert f"{shop.at('purchase_ordr')}: error: workflow entity: there is no entity 'purchase_ordr'" in text
    assert "did you mean 'purchase_order'?" in text


def test_state_mistakes(shop):
    text = shop.problems(ENTITIES + """
workflows:
  supplier_flow:
    entity: supplier
    field: status
    states:
      new: {}
      checking: {}
      active: {submit: true}
    transitions:
      - {action: check, from: new, to: checking}
      - {action: activate, from: checking, to: active}
  order_flow:
    entity: purchase_order
    states:
      draft: {initial: true}
      done: {submit: true, cancel: true}
      extra: {initial: true}
    transitions:
      - {action: finish, from: draft, to: done}
      - {action: again, from: done, to: extra}
""")
    assert (f"{shop.at('checking: {}')}: error: state 'checking' is not an option of supplier.status") in text
    assert (f"{shop.at('submit: true}')}: error: only documents are submitted and cancelled, and supplier is "
            "master data") in text
    assert (f"{shop.at('cancel: true')}: error: state 'done' cannot both submit and cancel the document; make "
            "them two states") in text
    assert (f"{shop.at('initial: true', 2)}: error: a workflow has one initial state, and 'draft' already is "
            f"(at {shop.at('initial: true')})") in text


def test_state_field_must_hold_text(shop):
    text = shop.problems(ENTITIES + """
workflows:
  a:
    entity: purchase_order
    field: level
    states: {draft: {}}
    transitions: [{action: a, from: draft, to: draft}]
  b:
    entity: supplier
    field: docstatus
    states: {draft: {}}
    transitions: [{action: a, from: draft, to: draft}]
""")
    assert (f"{shop.at('level', 2)}: error: field: purchase_order.level is of type int; the state is kept in a "
            "string or choice field") in text
    assert (f"{shop.at('docstatus')}: error: field: 'docstatus' is a column that jxc adds itself; the state "
            "needs a field of its own") in text


def test_initial_state_cannot_submit(shop):
    text = shop.problems(ENTITIES + """
workflows:
  a:
    entity: purchase_order
    states:
      done: {submit: true}
    transitions: [{action: a, from: done, to: done}]
""")
    assert (f"{shop.at('submit: true')}: error: the initial state 'done' cannot submit the document: a new "
            "document starts as a draft") in text


def test_transition_mistakes(shop):
    text = shop.problems(ENTITIES + """
workflows:
  po:
    entity: purchase_order
    states:
      draft: {}
      pending: {}
      approved: {submit: true}
    transitions:
      - {action: send, from: draft, to: pending, roles: [clerk, dept_haed]}
      - {action: send, from: pending, to: aproved, requires: [remark, remarks]}
      - {action: approve, from: [pending, pendng], to: approved, guard: total + 1}
      - {action: check, from: draft, to: pending, guard: totl > 5}
""")
    assert f"{shop.at('dept_haed')}: error: transition send: roles: there is no role 'dept_haed'" in text
    assert "did you mean 'dept_head'?" in text
    assert (f"{shop.at('send', 2)}: error: workflow 'po' already has an action 'send' (at {shop.at('send')})"
            in text)
    assert f"{shop.at('aproved')}: error: to: workflow 'po' has no state 'aproved'" in text
    assert "did you mean 'approved'?" in text
    assert f"{shop.at('remarks')}: error: transition send: requires: purchase_order has no field 'remarks'" in text
    assert f"{shop.at('pendng')}: error: from: workflow 'po' has no state 'pendng'" in text
    assert (f"{shop.at('total + 1')}: error: the guard of approve must give TRUE/FALSE (a condition), but this "
            "formula gives a number") in text
    assert f"{shop.at('totl')}: error: purchase_order has no field 'totl'" in text
    # with a from/to naming no state, reachability is not judged (it would only repeat the mistake)
    assert "cannot be reached" not in text


def test_unreachable_states(shop):
    text = shop.problems(ENTITIES + """
workflows:
  po:
    entity: purchase_order
    states:
      draft: {}
      approved: {submit: true}
      archived: {}
      limbo: {}
    transitions:
      - {action: approve, from: draft, to: approved}
      - {action: unarchive, from: archived, to: limbo}
""")
    assert f"{shop.at('archived: {}')}: error: state 'archived' cannot be reached from the initial state 'draft'" \
        in text
    assert f"{shop.at('limbo: {}')}: error: state 'limbo' cannot be reached from the initial state 'draft'" in text
    assert text.count("cannot be reached") == 2
