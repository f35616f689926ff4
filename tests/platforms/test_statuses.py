"""Each platform's status words and codes map to ours once, for imports and sync alike (platforms/statuses.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from cases import platform as case_platform
from cases import sla
from platforms import statuses

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("platform, word, status", [
    # the Taobao open platform's refund status, in its codes and in the Chinese its documentation gives them
    ("tmall", "WAIT_SELLER_AGREE", statuses.WAITING_SELLER),
    ("taobao", "买家已经申请退款，等待卖家同意", statuses.WAITING_SELLER),
    ("tmall", "买家已经申请退款,等待卖家同意", statuses.WAITING_SELLER),  # a half-width comma is the same word
    ("tmall", "卖家已经同意退款，等待买家退货", statuses.WAITING_RETURN),
    ("tmall", "WAIT_SELLER_CONFIRM_GOODS", statuses.RETURN_SHIPPED),
    ("tmall", "卖家拒绝退款", statuses.SELLER_REFUSED),
    ("tmall", "退款成功", statuses.REFUNDED),
    ("tmall", "CLOSED", statuses.CLOSED),
    # JD's service order status: the export's names and the API's codes
    ("jd_pop", "待审核", statuses.WAITING_SELLER),
    ("jd_self", "10005", statuses.RETURN_SHIPPED),
    ("jd_pop", "待用户确认", statuses.WAITING_BUYER),
    ("jd_pop", "完成", statuses.COMPLETED),
    ("jd_pop", "取消", statuses.CLOSED),
    # Douyin: the export's words, older ones, and the API's codes
    ("douyin", "待商家处理", statuses.WAITING_SELLER),
    ("douyin", "售后待处理", statuses.WAITING_SELLER),
    ("douyin", "待退货", statuses.WAITING_RETURN),
    ("douyin", "退货后拒绝退款", statuses.SELLER_REFUSED),
    ("douyin", "同意退款，退款成功", statuses.REFUNDED),
    ("douyin", "补寄/换货，待买家收货", statuses.RESHIPPED),
    ("douyin", "28", statuses.CLOSED),
    ("douyin", "仲裁中", statuses.INTERVENING),
])
def test_a_platforms_words_map_to_ours(platform, word, status):
    assert statuses.status_of(platform, word) == status


def test_words_of_another_platform_or_nothing_are_not_guessed():
    assert statuses.status_of("jd_pop", "退款成功") is None  # Taobao's words are not JD's
    assert statuses.status_of("tmall", "完成") is None
    assert statuses.status_of("pdd", "退款成功") is None     # no mapping for this platform yet
    assert statuses.status_of("tmall", "  ") is None and statuses.status_of("tmall", None) is None


def test_intervention_words():
    assert statuses.intervening("tmall", "客服已经介入") and statuses.intervening("taobao", "3")
    assert not statuses.intervening("tmall", "客服处理完成") and not statuses.intervening("tmall", "不需客服介入")
    assert statuses.intervening("douyin", "待商家举证") and not statuses.intervening("douyin", "无仲裁记录")
    assert not statuses.intervening("jd_pop", "客服已经介入")


def test_every_status_has_a_label_and_a_step():
    assert set(case_platform.STEPS) == set(statuses.STATUSES)
    for words in statuses.WORDS.values():
        assert set(words.values()) <= set(statuses.STATUSES)


@pytest.mark.parametrize("status, running", [(statuses.WAITING_SELLER, True), (statuses.SELLER_REFUSED, True),
                                             (statuses.REFUNDED, False), (statuses.CLOSED, False),
                                             (statuses.COMPLETED, False), (None, True)])
def test_a_finished_after_sale_stops_the_platforms_clock(status, running):
    case = SimpleNamespace(platform_deadline_at=NOW + timedelta(hours=5), received_at=NOW - timedelta(hours=1),
                           state="resolved", platform_status=status)
    assert (sla.platform_clock(case, NOW) is not None) is running
