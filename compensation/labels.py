"""The words of the compensation area: reasons, payout channels, statuses."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

COMPENSATION_REASONS = {
    "goodwill": _l("Goodwill"),
    "defect": _l("Defect or damage"),
    "size_description": _l("Size or description"),
    "freight": _l("Freight the shop need not pay"),
    "bad_review_threat": _l("Bad-review threat"),
    "price_difference": _l("Price difference"),
    "other": _l("Other"),
}

PAYOUTS = {
    "alipay": _l("Alipay transfer"),
    "wechat": _l("WeChat transfer"),
    "coupon": _l("Coupon"),
    "platform_partial_refund": _l("Partial refund on the platform"),
    "bank": _l("Bank transfer"),
    "other": _l("Other"),
}

COMPENSATION_STATUSES = {
    "pending": _l("Waiting for approval"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "paid": _l("Paid"),
}

# Whom a request waits for now (rules.waiting_on), in the requester's "my requests" table.
WAITING_ON = {
    "lead": _l("A team lead"),
    "manager": _l("A shop manager"),
    "payment": _l("Payment (you or finance)"),
    "paid": _l("Nobody: paid"),
    "rejected": _l("Nobody: rejected"),
}


TEMPLATE_LABELS = {"reason_labels": COMPENSATION_REASONS, "payout_labels": PAYOUTS, "compensation_status_labels": COMPENSATION_STATUSES,
                   "waiting_on_labels": WAITING_ON}
