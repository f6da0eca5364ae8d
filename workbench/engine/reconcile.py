"""Reconciliation of what reached nautilus against what the risk gate approved (the 0-unapproved proof)."""

from __future__ import annotations

from workbench.risk.types import Action, RiskDecision

__all__ = ["reconcile"]


def reconcile(orders, decisions: list[RiskDecision]) -> dict:
    """Submitted nautilus orders and cancel/modify requests vs recorded approvals. Every count but
    ``orders`` must be 0."""
    approved_new = {
        d.intent.client_order_id: d for d in decisions if d.approved and d.intent.action is Action.NEW
    }
    approved = {Action.CANCEL: {}, Action.MODIFY: {}}
    for d in decisions:
        if d.approved and d.intent.action in approved:
            book = approved[d.intent.action]
            book[d.intent.target_id] = book.get(d.intent.target_id, 0) + 1
    out = {
        "orders": 0,
        "unapproved_orders": 0,
        "qty_mismatch": 0,
        "unapproved_cancels": 0,
        "unapproved_modifies": 0,
    }
    for order in orders:
        coid = order.client_order_id.value
        out["orders"] += 1
        d = approved_new.get(coid)
        if d is None:
            out["unapproved_orders"] += 1
            continue
        if order.quantity.as_decimal() != d.approved_qty:
            out["qty_mismatch"] += 1
        kinds = [type(e).__name__ for e in order.events]
        out["unapproved_cancels"] += max(
            0, kinds.count("OrderPendingCancel") - approved[Action.CANCEL].get(coid, 0)
        )
        out["unapproved_modifies"] += max(
            0, kinds.count("OrderPendingUpdate") - approved[Action.MODIFY].get(coid, 0)
        )
    return out
