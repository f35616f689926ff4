"""The marketplaces' after-sales statuses, mapped once to ours: the export presets (platforms/exports.py) and
the sync connectors read a platform's status through ``status_of`` and nothing else.

Our statuses are few on purpose: each one is a moment where the case moves as a person would move it
(cases/platform.py says how). A platform's own words are kept beside ours on the case, so nothing it says is
lost when two of its words mean the same step for us.
"""

from __future__ import annotations

import unicodedata

from flask_babel import lazy_gettext as _l

WAITING_SELLER = "waiting_seller"        # the buyer asked; the shop must answer
WAITING_RETURN = "waiting_return"        # the shop agreed; the buyer must send the goods back
RETURN_SHIPPED = "return_shipped"        # the buyer sent the goods back; the shop must confirm receipt
SELLER_REFUSED = "seller_refused"        # the shop refused; the buyer may change the request or escalate
WAITING_BUYER = "waiting_buyer"          # the shop (or the platform) asked the buyer something: the buyer must answer
INTERVENING = "intervening"              # the platform's customer service (小二/客服/仲裁) is deciding
RESHIPPED = "reshipped"                  # exchange or reship: the shop sent goods; the buyer must receive them
REFUNDING = "refunding"                  # the shop agreed and the money is on its way: nobody has to act
REFUNDED = "refunded"                    # the refund went through
CLOSED = "closed"                        # the request was withdrawn, refused for good, or timed out
COMPLETED = "completed"                  # a service without refund (repair, exchange) finished

STATUSES = {
    WAITING_SELLER: _l("Waiting for the seller"),
    WAITING_RETURN: _l("Waiting for the buyer to return the goods"),
    RETURN_SHIPPED: _l("Buyer returned the goods"),
    SELLER_REFUSED: _l("Seller refused"),
    WAITING_BUYER: _l("Waiting for the buyer's answer"),
    INTERVENING: _l("Platform intervening"),
    RESHIPPED: _l("Goods sent again, waiting for the buyer"),
    REFUNDING: _l("Refund in progress"),
    REFUNDED: _l("Refund succeeded"),
    CLOSED: _l("Refund closed"),
    COMPLETED: _l("After-sales completed"),
}
FINAL = frozenset({REFUNDED, CLOSED, COMPLETED})  # the platform's clock stops: it will not act any more

# Which mapping a platform's shops use: Tmall and Taobao share one back office (千牛) and one open platform.
FAMILY = {"tmall": "taobao", "taobao": "taobao", "jd_pop": "jd", "jd_self": "jd", "jd_used": "jd", "douyin": "douyin"}

# --- Taobao and Tmall --------------------------------------------------------------------------------------
# The refund's status as the open platform defines it (taobao.refund.get / taobao.refunds.receive.get, field
# ``status``, with the Chinese the API documentation gives for each value; mirrored in the public SDK
# github.com/bububa/opentaobao, model Refund: "退款状态。可选值WAIT_SELLER_AGREE(买家已经申请退款，等待卖家同意)
# WAIT_BUYER_RETURN_GOODS(卖家已经同意退款，等待买家退货) WAIT_SELLER_CONFIRM_GOODS(买家已经退货，等待卖家确认收货)
# SELLER_REFUSE_BUYER(卖家拒绝退款) CLOSED(退款关闭) SUCCESS(退款成功)"). The 千牛 export's 退款状态 column writes
# the Chinese of the same values.
_TAOBAO = {
    "WAIT_SELLER_AGREE": WAITING_SELLER, "买家已经申请退款，等待卖家同意": WAITING_SELLER,
    "买家已经申请退款,等待卖家同意": WAITING_SELLER, "等待卖家同意": WAITING_SELLER,
    "WAIT_BUYER_RETURN_GOODS": WAITING_RETURN, "卖家已经同意退款，等待买家退货": WAITING_RETURN, "等待买家退货": WAITING_RETURN,
    "WAIT_SELLER_CONFIRM_GOODS": RETURN_SHIPPED, "买家已经退货，等待卖家确认收货": RETURN_SHIPPED,
    "等待卖家确认收货": RETURN_SHIPPED,
    "SELLER_REFUSE_BUYER": SELLER_REFUSED, "卖家拒绝退款": SELLER_REFUSED,
    "CLOSED": CLOSED, "退款关闭": CLOSED,
    "SUCCESS": REFUNDED, "退款成功": REFUNDED,
    # exchanges, as taobao.refunds.receive.get adds them (bububa/opentaobao, TaobaoRefundsReceiveGetAPIRequest)
    "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS": RESHIPPED, "等待买家确认换货卖家发货商品": RESHIPPED,
    "WAIT_SELLER_CONSIGN_GOODS": WAITING_SELLER, "商家确认收货等待商家发货": WAITING_SELLER,
    "EXCHANGE_TRANSFORM_TO_REFUND": WAITING_SELLER, "换货关闭转退款": WAITING_SELLER,
}
# The intervention of Taobao's customer service (``cs_status``: 1 不需客服介入, 2 需要客服介入, 3 客服已经介入,
# 4 客服初审完成, 5 客服主管复审失败, 6 客服处理完成, 7 系统撤销/维权撤销, 8 支持买家, 9 支持卖家, 10 举证中,
# 11 开放申诉; bububa/opentaobao, model/tbrefund/Refund.go). While 2 to 5, 10 or 11, the platform is in the case.
_TAOBAO_INTERVENTION = {"2", "3", "4", "5", "10", "11", "需要客服介入", "客服已经介入", "客服初审完成", "客服主管复审失败",
                        "举证中", "开放申诉"}

# --- JD POP ------------------------------------------------------------------------------------------------
# The service order's status (服务单状态): the after-sales API's serviceStatus and serviceStatusName, as the public
# order system github.com/zeasin/qihangerp-oms maps them (OmsJdAfterSale.java: 10000 待审核领取, 10001 待审核,
# 10002 待客户反馈, 10004 审核关闭, 10005 待收货, 10006 待处理领取, 10007 待处理, 10009 待用户确认, 10010 完成,
# 10011 取消, 10012 客户已反馈, 10041 提交退款申请). The 京麦 export's 服务单状态 column shows the names; 完成 and
# words with 取消 are seen in public importers of the export.
_JD = {
    "10000": WAITING_SELLER, "待审核领取": WAITING_SELLER, "10001": WAITING_SELLER, "待审核": WAITING_SELLER,
    "10002": WAITING_BUYER, "待客户反馈": WAITING_BUYER, "10012": WAITING_SELLER, "客户已反馈": WAITING_SELLER,
    "10013": WAITING_SELLER, "待审核和待客户反馈": WAITING_SELLER,
    "10004": CLOSED, "审核关闭": CLOSED,
    "10005": RETURN_SHIPPED, "待收货": RETURN_SHIPPED,
    "10006": WAITING_SELLER, "待处理领取": WAITING_SELLER, "10007": WAITING_SELLER, "待处理": WAITING_SELLER,
    "10009": WAITING_BUYER, "待用户确认": WAITING_BUYER,
    "10010": COMPLETED, "完成": COMPLETED,
    "10011": CLOSED, "取消": CLOSED, "已取消": CLOSED,
    "10041": REFUNDING, "提交退款申请": REFUNDING,
}

# --- Douyin (抖店) -------------------------------------------------------------------------------------------
# The after-sales export's 售后状态 words as public parsers of 抖店 exports list them (待商家处理, 待买家退货处理,
# 待商家收货, 同意退款，退款成功, 退货后拒绝退款, 拒绝售后申请, 售后关闭, 换货成功, 补寄/换货成功, 补寄/换货，待买家收货;
# older exports: 售后待处理, 待退货) and the open API's aftersale_status codes (afterSale/List, as
# github.com/zeasin/qihangerp-oms documents them in DouRefund.java: 3 换货待买家收货, 6 待商家同意, 7 待买家退货,
# 8 待商家发货, 11 待商家二次同意, 12 售后成功, 14 换货成功, 27 商家一次拒绝, 28 售后失败, 29 商家二次拒绝).
_DOUYIN = {
    "6": WAITING_SELLER, "待商家同意": WAITING_SELLER, "待商家处理": WAITING_SELLER, "售后待处理": WAITING_SELLER,
    "发货前退款待处理": WAITING_SELLER, "发货后仅退款待处理": WAITING_SELLER, "退货待处理": WAITING_SELLER,
    "换货待处理": WAITING_SELLER, "8": WAITING_SELLER, "待商家发货": WAITING_SELLER,
    "11": WAITING_SELLER, "待商家二次同意": WAITING_SELLER,
    "7": WAITING_RETURN, "待买家退货": WAITING_RETURN, "待买家退货处理": WAITING_RETURN, "待退货": WAITING_RETURN,
    "待商家收货": RETURN_SHIPPED,
    "27": SELLER_REFUSED, "商家一次拒绝": SELLER_REFUSED, "29": SELLER_REFUSED, "商家二次拒绝": SELLER_REFUSED,
    "拒绝售后申请": SELLER_REFUSED, "拒绝售后": SELLER_REFUSED, "退货后拒绝退款": SELLER_REFUSED,
    "3": RESHIPPED, "换货待买家收货": RESHIPPED, "补寄/换货，待买家收货": RESHIPPED, "等待用户收货": RESHIPPED,
    "仲裁中": INTERVENING, "仲裁中-待商家举证": INTERVENING, "待商家上传凭证": INTERVENING,
    "同意退款，退款中": REFUNDING,
    "同意退款，退款成功": REFUNDED,
    "12": COMPLETED, "售后成功": COMPLETED, "14": COMPLETED, "换货成功": COMPLETED, "补寄/换货成功": COMPLETED,
    "28": CLOSED, "售后失败": CLOSED, "售后关闭": CLOSED,
}
# Arbitration (仲裁状态; arbitrate_status 0 无仲裁记录, 1 仲裁中, 2 客服同意, 3 客服拒绝, 4 待商家举证, 5 协商期,
# 255 仲裁结束; same sources): the platform is in the case while 1, 4 or 5.
_DOUYIN_INTERVENTION = {"1", "4", "5", "仲裁中", "待商家举证", "协商期"}

WORDS = {"taobao": _TAOBAO, "jd": _JD, "douyin": _DOUYIN}
INTERVENTION_WORDS = {"taobao": _TAOBAO_INTERVENTION, "jd": set(), "douyin": _DOUYIN_INTERVENTION}


def _loose(text) -> str:
    """Full-width punctuation and stray spaces do not make another status."""
    return unicodedata.normalize("NFKC", str(text)).replace(" ", "").strip()


def _table(words: dict) -> dict:
    return {_loose(word): key for word, key in words.items()}


_TABLES: dict[str, dict] = {}


def table(platform: str) -> dict:
    family = FAMILY.get(platform, platform)
    if family not in _TABLES:
        _TABLES[family] = _table(WORDS.get(family, {}))
    return _TABLES[family]


def status_of(platform: str, text) -> str | None:
    """Our status for a platform's status word or code, or None when we do not know it (it is kept as text)."""
    if text is None or _loose(text) == "":
        return None
    return table(platform).get(_loose(text))


def intervening(platform: str, text) -> bool:
    """Whether a platform's intervention word or code says its customer service is in the case now."""
    words = INTERVENTION_WORDS.get(FAMILY.get(platform, platform), set())
    return text is not None and _loose(text) in {_loose(word) for word in words}


def known_words(platform: str) -> list[str]:
    """The platform's Chinese status words, for a message about one we do not know."""
    return [word for word in WORDS.get(FAMILY.get(platform, platform), {}) if not word.isascii()]
