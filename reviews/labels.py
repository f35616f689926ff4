"""The words and documented defaults of the review worklist (差评日清)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

# The default cause list (../shared/data/README.md); a lead edits it (setting review_causes).
# The causes are Chinese words the shop uses, stored as they are (they are data, not interface text).
DEFAULT_CAUSES = ("质量问题", "物流", "服务态度", "描述不符/尺寸", "少件错发", "安装使用", "价格", "包装破损", "其他")
OTHER_CAUSE = "其他"

# The case category a review's cause opens a case with (cases.labels.CASE_CATEGORIES).
CAUSE_CATEGORY = {
    "质量问题": "fault_in_use",
    "物流": "logistics",
    "服务态度": "service",
    "描述不符/尺寸": "function_not_expected",
    "少件错发": "missing_accessory",
    "安装使用": "install",
    "价格": "other",
    "包装破损": "damaged_on_arrival",
    "其他": "other",
}

# Negative (1–2 stars) and middle (3) reviews go on the list; the follow-up rate counts negative ones.
LIST_MAX_RATING = 3
NEGATIVE_MAX_RATING = 2
# How the marketplaces' three-level ratings map to stars (Tmall/Taobao 好评/中评/差评, JD's and Douyin's too).
RATING_WORDS = {"好评": 5, "好": 5, "中评": 3, "中": 3, "差评": 1, "差": 1}
# A list forms from yesterday's reviews; reviews of the days before whose own list never formed (the
# scheduler was down) are swept in too, up to this many days back. Older ones never join a list.
CATCH_UP_DAYS = 7

REVIEW_STATES = {"todo": _l("To do"), "contacted": _l("Contacted"), "handled": _l("Handled")}
OUTCOMES = {
    "replied": _l("Public reply or explanation posted"),
    "case": _l("Case opened or linked"),
    "no_action": _l("No action"),
}
CHANNELS = {"phone": _l("Phone"), "chat": _l("Marketplace chat"), "sms": _l("Text message"), "other": _l("Other")}
CONTACT_OUTCOMES = {
    "resolved": _l("Reached: resolved"),
    "explained": _l("Reached: explained, buyer understands"),
    "unresolved": _l("Reached: not resolved"),
    "no_answer": _l("Not reached"),
    "refused": _l("Buyer refused to talk"),
}
REACHED = ("resolved", "explained", "unresolved")

# The marketplaces' reply windows. Tmall/Taobao (the issue's and the seller centre's rule): a seller's
# explanation (解释) is at most 500 characters, may be posted within 30 days of the review, and not once
# the buyer has added a follow-up review (追评). The other platforms publish no rule we could cite, so
# they start with the same values and a lead sets them on the settings page.
DEFAULT_WINDOW = {"max_chars": 500, "days": 30, "closes_at_follow_up": True}
DEFAULT_WINDOWS = {
    "tmall": DEFAULT_WINDOW,
    "taobao": DEFAULT_WINDOW,
}

# Offering anything for a good, changed, added or deleted review is forbidden by every marketplace
# (DOMAIN.md §4; Taobao's rule on 好评返现 and 诱导好评). A text with one of these is flagged: a template
# with one cannot be saved, a recorded reply with one is marked for the lead.
FORBIDDEN_PHRASES = (
    "好评返现", "返现", "好评返", "晒图返", "五星好评送", "好评送", "好评有礼", "好评红包", "红包", "返红包",
    "改评", "改成好评", "改好评", "修改评价", "修改评论", "删评", "删除评价", "删除评论", "删掉评价", "撤销评价",
    "追加好评", "追评好评", "给个好评", "返利", "现金奖励",
)

TEMPLATE_LABELS = {
    "review_state_labels": REVIEW_STATES,
    "review_outcome_labels": OUTCOMES,
    "review_channel_labels": CHANNELS,
    "review_contact_outcome_labels": CONTACT_OUTCOMES,
}
