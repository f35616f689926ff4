"""The words of the scoring area: the month's figures a lead enters, appeal states, the rule fields a lead edits."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

# The industry values (行业值) of a month, as the marketplace's back office shows them.
INDUSTRY_LABELS = {
    "dispute_rate": _l("Industry dispute rate (%)"),
    "self_completion_rate": _l("Industry self-completion rate (%)"),
    "refund_only_days": _l("Industry refund-only completion time (days)"),
    "return_refund_days": _l("Industry return-and-refund completion time (days)"),
    "dsr_description": _l("Industry DSR: item as described"),
    "dsr_service": _l("Industry DSR: service"),
    "dsr_logistics": _l("Industry DSR: logistics"),
}
# The shop's own figures of the month: what the app does not otherwise know.
SHOP_LABELS = {
    "paid_orders": _l("Paid orders this month"),
    "dsr_description": _l("Shop DSR: item as described"),
    "dsr_service": _l("Shop DSR: service"),
    "dsr_logistics": _l("Shop DSR: logistics"),
    "dsr_description_vs_industry": _l("Item as described vs industry (%, negative when below)"),
    "dsr_service_vs_industry": _l("Service vs industry (%, negative when below)"),
    "dsr_logistics_vs_industry": _l("Logistics vs industry (%, negative when below)"),
}
# What each figure may be: (lowest, highest, decimal places).
VALUE_RANGES = {
    "dispute_rate": (0, 100, 4), "self_completion_rate": (0, 100, 2), "refund_only_days": (0, 365, 2),
    "return_refund_days": (0, 365, 2), "dsr_description": (0, 5, 5), "dsr_service": (0, 5, 5), "dsr_logistics": (0, 5, 5),
    "paid_orders": (0, 100_000_000, 0), "dsr_description_vs_industry": (-100, 1000, 2),
    "dsr_service_vs_industry": (-100, 1000, 2), "dsr_logistics_vs_industry": (-100, 1000, 2),
}

APPEAL_STATES = {
    "open": _l("Open"), "escalated": _l("Escalated to the manager"), "accepted": _l("Accepted"), "rejected": _l("Rejected"),
}
MONTH_STATES = {"draft": _l("Draft"), "published": _l("Published")}

# The rule fields a lead edits, by name, as the rules page labels them.
RULE_FIELD_LABELS = {
    "weight": _l("Weight"), "margin": _l("Margin (percentage points)"), "points": _l("Points"),
    "otherwise_points": _l("Points otherwise"), "no_complaints_points": _l("Points with no complaints"),
    "none_upheld_points": _l("Points when none upheld"), "min_points": _l("Lowest points"),
    "max_points": _l("Highest points"), "percent": _l("Threshold (%)"),
}

LABELS = {"appeal_state_labels": APPEAL_STATES, "month_state_labels": MONTH_STATES, "industry_labels": INDUSTRY_LABELS,
          "shop_figure_labels": SHOP_LABELS, "rule_field_labels": RULE_FIELD_LABELS}
