"""Valuation properties, over random receipts and issues: moving average and FIFO never leave cents behind
when everything is issued, never make the value negative while stock is not, and FIFO's value is what its
open layers hold."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.stock.valuation import FifoLayers, PairState, money

QTY = st.integers(min_value=1, max_value=500).map(lambda n: Decimal(n) / 4)  # quarter units
COST = st.integers(min_value=0, max_value=100_000).map(lambda n: Decimal(n) / 1000)  # 0.000 … 100.000
STEPS = st.lists(st.tuples(st.booleans(), QTY, COST), min_size=1, max_size=40)


def run_average(steps: list[tuple[bool, Decimal, Decimal]]) -> PairState:
    state = PairState(Decimal(0), Decimal(0))
    for receive, qty, cost in steps:
        if receive:
            state.apply(qty, money(qty * cost))
        elif state.qty > 0:
            taken = min(qty, state.qty)
            value, _ = state.issue(taken)
            state.apply(-taken, value)
            assert state.value >= 0 or state.qty == 0, "value went negative while stock remains"
    return state


@settings(max_examples=200, deadline=None)
@given(STEPS)
def test_moving_average_issues_everything_down_to_exactly_zero(steps):
    state = run_average(steps)
    if state.qty > 0:
        value, _ = state.issue(state.qty)
        state.apply(-state.qty, value)
    assert (state.qty, state.value) == (0, 0)


class _NoDatabase(FifoLayers):
    """FIFO layers kept in memory only (the valuation logic, without its table)."""

    def __init__(self) -> None:
        self.open, self.changed, self.new = {(1, 1): []}, {}, []


@settings(max_examples=200, deadline=None)
@given(STEPS)
def test_fifo_value_is_what_the_open_layers_hold(steps):
    layers, qty, value = _NoDatabase(), Decimal(0), Decimal(0)
    for receive, amount, cost in steps:
        if receive:
            layers.add(1, 1, None, amount, cost, 0)
            qty, value = qty + amount, value + money(amount * cost)
        elif qty > 0:
            taken = min(amount, qty)
            change, _ = layers.issue(1, 1, taken, Decimal(0))
            qty, value = qty - taken, value + change
    held = sum((layer[1] * layer[2] for layer in layers.open[(1, 1)]), Decimal(0))
    assert sum((layer[1] for layer in layers.open[(1, 1)]), Decimal(0)) == qty
    # each receipt's value and each issue's value are rounded to cents: they may differ by a cent per movement
    assert abs(value - held) <= Decimal("0.01") * len(steps)
