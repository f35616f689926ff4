"""Review import: columns, ratings, times, follow-up reviews, keys and re-imports, applying all or nothing.

Files are built in memory; their texts are ours and made up. The real JD reviews are only read from
../shared/data at run time (their licence keeps them out of the project).
"""

from __future__ import annotations

import csv
import io
import os
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa
from flask_babel import force_locale

import spreadsheets
from models import Review, ReviewDay, Shop, TimelineEvent, db, set_setting, utcnow
from reviews import importing as review_import
from reviews import worklist
from reviews.importing import PlanNotReady, parse_picture_count, parse_rating, plan_import, text_digest
from spreadsheets import CellError, read_table
from tests.conftest import user_named

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")
SHOPS = [
    SimpleNamespace(id=1, name="测试天猫店", platform="tmall", active=True),
    SimpleNamespace(id=2, name="测试京东店", platform="jd_pop", active=True),
    SimpleNamespace(id=3, name="关掉的天猫店", platform="tmall", active=False),
]
HEADER = ["评价ID", "订单号", "评分", "评价内容", "评价时间", "店铺"]
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "data")
JD_FILE = SHARED_DATA / "reviews_jd_aircon_1_2_star.csv"
JD_MAPPING = {"platform_review_id": "source_id", "product": "product_name", "reviewed_at": "review_time"}


# --- building files and plans ----------------------------------------------------------------

def csv_bytes(rows, encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def table_of(rows, header=HEADER):
    return read_table(csv_bytes([header, *rows]), "reviews.csv")


def fake_review(**values):
    defaults = dict(id=7, platform="tmall", shop_id=1, platform_review_id="R1", order_no="1001", buyer_nick="小林",
                    product="", sku="", rating=3, text="一般", reviewed_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
                    picture_count=0, follow_up_text="", follow_up_at=None)
    defaults.update(values)
    review = SimpleNamespace(**defaults)
    review.text_digest = text_digest(review.text)
    review.reference = f"R{review.id}"
    review.shop = SimpleNamespace(name=next(shop.name for shop in SHOPS if shop.id == review.shop_id))
    return review


def make_plan(rows=None, header=HEADER, existing=(), table=None, **options):
    options.setdefault("platform", "tmall")
    options.setdefault("zone", SHANGHAI)
    return plan_import(table or table_of(rows or [], header), shops=SHOPS, now=NOW,
                       find_existing=lambda *args: list(existing), **options)


def one_row(extra_header=(), extra_values=(), values=("R1", "1001", "中评", "一般", "2026-11-20 10:00", "测试天猫店"),
            **options):
    plan = make_plan([[*values, *extra_values]], [*HEADER, *extra_header], **options)
    assert not plan.problems, plan.problems
    return plan.rows[0]


# --- columns -----------------------------------------------------------------------------------

def test_known_column_names_belong_to_one_field_each():
    seen = {}
    for name, names in review_import.header_aliases().items():
        for alias in names:
            assert seen.setdefault(spreadsheets.normalise(alias), name) == name, alias


def test_no_column_name_means_two_fields_in_any_language(app):
    """Inside the app the labels' translations are column names too: they must not collide either."""
    with app.test_request_context():
        test_known_column_names_belong_to_one_field_each()


@pytest.mark.parametrize("header", [
    ["评价编号", "订单编号", "用户昵称", "宝贝标题", "颜色分类", "评价结果", "初评内容", "初评时间", "追评内容", "追评时间"],
    ["评论ID", "订单号", "会员名", "商品名称", "销售属性", "商品评分", "评论内容", "评论时间", "追加评论", "追加评论时间"],
    ["commentId", "order_id", "nickname", "product_name", "sku_name", "rating", "content", "review_time", "图片"],
])
def test_typical_exports_map_without_editing(header):
    columns = review_import.resolve_columns(header, has_default_shop=True)
    assert columns.missing == [] and columns.ignored == []


def test_required_columns_and_the_shop_for_the_whole_file():
    columns = review_import.resolve_columns(["评价内容"])
    assert columns.missing == ["rating", "reviewed_at", "shop"]
    assert review_import.resolve_columns(["评分", "评价时间"], has_default_shop=True).missing == []


def test_a_missing_required_column_is_a_problem_naming_it():
    plan = make_plan([["R1", "差评", "很差"]], ["评价ID", "评分", "评价内容"], default_shop_id=1)
    assert plan.problems == ["Required columns are missing: Review time (评价时间/评论时间/初评时间). "
                             "Add them to the file or choose them in the column mapping."]
    assert plan.rows == [] and not plan.ready


def test_the_jd_files_columns_through_a_mapping():
    header = ["source_id", "product_category", "text", "rating", "jd_product_id", "product_name", "purchase_time",
              "review_time"]
    columns = review_import.resolve_columns(header, JD_MAPPING, has_default_shop=True)
    assert columns.header == {"platform_review_id": "source_id", "product": "product_name", "rating": "rating",
                              "text": "text", "reviewed_at": "review_time"}
    assert columns.ignored == ["product_category", "jd_product_id", "purchase_time"]  # never the purchase time


# --- ratings -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,stars", [
    ("1", 1), (1, 1), (1.0, 1), ("1.0", 1), ("5", 5), ("１", 1), ("1星", 1), ("3 星", 3), ("5分", 5), ("一星", 1),
    ("五星", 5), ("两星", 2), ("★★", 2), ("★★☆☆☆", 2), ("★★★★★", 5),
    ("好评", 5), ("中评", 3), ("差评", 1), ("好", 5), ("中", 3), ("差", 1), ("good", 5), ("bad", 1),
])
def test_ratings(value, stars):
    assert parse_rating(value) == stars


@pytest.mark.parametrize("value", ["6", 6, 0, "0", 2.5, "2.5", "很差", "一般", "★★★★★★", "-1", True])
def test_anything_else_is_not_a_rating(value):
    with pytest.raises(CellError, match="is not a rating. Use 1 to 5 \\(stars\\) or one of: 好评、中评、差评"):
        parse_rating(value)


def test_good_middle_and_bad_map_to_five_three_and_one_and_six_and_very_bad_are_refused():
    rows = [[f"R{n}", "", word, "", "2026-11-20 10:00", "测试天猫店"] for n, word in enumerate(["好评", "中评", "差评", "6", "很差"])]
    plan = make_plan(rows)
    assert [row.values.get("rating") for row in plan.rows] == [5, 3, 1, None, None]
    assert [row.action for row in plan.rows] == ["create", "create", "create", "refused", "refused"]
    assert plan.rows[3].reasons == ["评分: “6” is not a rating. Use 1 to 5 (stars) or one of: 好评、中评、差评."]
    assert plan.rows[4].reasons == ["评分: “很差” is not a rating. Use 1 to 5 (stars) or one of: 好评、中评、差评."]


# --- other cells -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,count", [
    ("3", 3), (3, 3), (3.0, 3), ("0", 0), ("2张", 2),
    ("https://img.example.test/a.jpg,https://img.example.test/b.jpg;https://img.example.test/c.jpg", 3),
    ("//img.example.test/a.jpg | //img.example.test/b.jpg", 2),
    ("a.jpg b.png\nc.webp", 3),
    ("https://img.example.test/a.jpg，https://img.example.test/b.jpg", 2),
])
def test_picture_counts_are_numbers_or_counted_links(value, count):
    assert parse_picture_count(value) == count


@pytest.mark.parametrize("value,message", [("很多", "neither a number of pictures"), ("-1", "neither a number"),
                                           ("a.jpg, 好看", "neither a number"), ("1000", "At most 100 pictures")])
def test_bad_picture_counts_are_refused(value, message):
    with pytest.raises(CellError, match=message):
        parse_picture_count(value)


def test_times_are_shop_time_and_the_jd_format_is_read():
    row = one_row(values=("R1", "1001", "差评", "很差", "2022/8/14 17:02", "测试天猫店"))
    assert row.values["reviewed_at"] == datetime(2022, 8, 14, 9, 2, tzinfo=UTC)
    row = one_row(values=("R1", "1001", "差评", "很差", "2022/8/14 17:02", "测试天猫店"), zone=ZoneInfo("UTC"))
    assert row.values["reviewed_at"] == datetime(2022, 8, 14, 17, 2, tzinfo=UTC)


def test_a_review_from_more_than_a_day_ahead_is_refused():
    assert one_row(values=("R1", "", "差评", "", "2026-11-23 15:00", "测试天猫店")).action == "create"  # within a day
    row = one_row(values=("R1", "", "差评", "", "2026-11-23 17:00", "测试天猫店"))
    assert row.reasons == ["评价时间: more than a day in the future."]


def test_a_row_without_text_is_fine_and_one_without_rating_or_time_is_not():
    plan = make_plan([["R1", "", "5", "", "2026-11-20 10:00", "测试天猫店"],
                      ["R2", "", "", "很差", "2026-11-20 10:00", "测试天猫店"],
                      ["R3", "", "1", "很差", "", "测试天猫店"]])
    assert plan.rows[0].action == "create" and "text" not in plan.rows[0].values
    assert plan.rows[1].reasons == ["评分 is empty."]
    assert plan.rows[2].reasons == ["评价时间 is empty."]


def test_long_texts_are_shortened_with_a_note_and_markup_is_kept_as_written():
    row = one_row(values=("R1", "", "差评", "差" * 6000, "2026-11-20 10:00", "测试天猫店"))
    assert len(row.values["text"]) == 5000 and row.action == "create"
    assert row.notes == ["Review text was shortened to 5000 characters."]
    row = one_row(values=("R1", "", "差评", "<script>alert(1)</script>", "2026-11-20 10:00", "测试天猫店"))
    assert row.values["text"] == "<script>alert(1)</script>"


def test_shops_are_checked():
    assert one_row(values=("R1", "", "1", "", "2026-11-20 10:00", "没有的店")).reasons == ["店铺: There is no shop named “没有的店”."]
    assert one_row(values=("R1", "", "1", "", "2026-11-20 10:00", "测试京东店")).reasons == [
        "店铺: “测试京东店” is a shop on another platform."]
    assert one_row(values=("R1", "", "1", "", "2026-11-20 10:00", "关掉的天猫店")).reasons == [
        "店铺: The shop “关掉的天猫店” is deactivated."]
    plan = make_plan([["R1", "", "1", "", "2026-11-20 10:00"]], HEADER[:5], default_shop_id=1)
    assert plan.rows[0].values["shop"] == 1 and plan.rows[0].action == "create"


# --- follow-up reviews in the file -------------------------------------------------------------------

FOLLOW_UP = ["追评内容", "追评时间"]


def test_a_follow_up_review_with_its_time():
    row = one_row(FOLLOW_UP, ["客服处理了，已换新", "2026-11-21 09:00"])
    assert row.action == "create"
    assert (row.values["follow_up_text"], row.values["follow_up_at"]) == ("客服处理了，已换新", datetime(2026, 11, 21, 1, 0, tzinfo=UTC))


def test_a_follow_up_before_the_review_or_in_the_future_is_refused():
    assert one_row(FOLLOW_UP, ["追评", "2026-11-19 09:00"]).reasons == ["追评时间 is earlier than 评价时间."]
    assert one_row(FOLLOW_UP, ["追评", "2026-11-22 17:00"]).reasons == ["追评时间 is in the future."]


def test_a_follow_up_text_without_its_time_is_left_out_and_said_so():
    row = one_row(FOLLOW_UP, ["客服处理了", ""])
    assert row.action == "create" and "follow_up_text" not in row.values
    assert row.notes == ["The follow-up review has no time, so it is not imported; add its time to import it."]


def test_a_follow_up_time_without_text_is_recorded():
    row = one_row(FOLLOW_UP, ["", "2026-11-21 09:00"])
    assert row.action == "create" and row.values["follow_up_at"] == datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
    assert row.notes == ["The follow-up review has a time but no text; only its time is imported."]


def test_a_file_with_follow_up_texts_but_no_time_column_warns():
    plan = make_plan([["R1", "", "1", "", "2026-11-20 10:00", "测试天猫店", "追评"]], [*HEADER, "追评内容"])
    assert any("follow-up time" in warning for warning in plan.warnings)


# --- keys: duplicates in the file and known reviews ---------------------------------------------------

def test_text_digest_ignores_how_whitespace_is_spread():
    assert text_digest("质量差  真的\n差") == text_digest(" 质量差 真的 差 ")
    assert text_digest("质量差") != text_digest("质量 差")
    assert text_digest("") == text_digest(None) and len(text_digest("")) == 64


def test_duplicate_review_ids_refuse_the_later_row_naming_the_first():
    plan = make_plan([["R1", "1001", "1", "很差", "2026-11-20 10:00", "测试天猫店"],
                      ["R2", "1002", "1", "很差", "2026-11-20 10:00", "测试天猫店"],
                      ["R1", "1003", "2", "也差", "2026-11-20 11:00", "测试天猫店"]])
    assert [row.action for row in plan.rows] == ["create", "create", "refused"]
    assert plan.rows[2].reasons == ["The same review ID as row 2."]


def test_without_review_ids_order_time_and_text_are_the_key():
    plan = make_plan([["", "1001", "1", "很差", "2026-11-20 10:00", "测试天猫店"],
                      ["", "1001", "1", "另一条", "2026-11-20 10:00", "测试天猫店"],
                      ["", "1001", "2", "很差 ", "2026-11-20 10:00", "测试天猫店"],
                      ["R9", "1001", "1", "很差", "2026-11-20 10:00", "测试天猫店"]])
    assert [row.action for row in plan.rows] == ["create", "create", "refused", "refused"]
    assert plan.rows[2].reasons == ["The same order no., review time and text as row 2; add the review ID to tell them apart."]
    assert plan.rows[3].reasons == ["The same order no., review time and text as row 2, which has no review ID."]


def test_two_items_of_one_order_with_the_same_text_are_told_apart_by_their_ids():
    plan = make_plan([["R1", "1001", "1", "很差", "2026-11-20 10:00", "测试天猫店"],
                      ["R2", "1001", "1", "很差", "2026-11-20 10:00", "测试天猫店"]])
    assert [row.action for row in plan.rows] == ["create", "create"]


def test_a_known_review_is_unchanged():
    row = one_row(existing=[fake_review()])
    assert (row.action, row.changes, row.existing.id) == ("unchanged", {}, 7)


def test_a_review_id_carries_a_changed_rating_and_text():
    row = one_row(values=("R1", "1001", "好评", "其实还不错", "2026-11-20 10:00", "测试天猫店"), existing=[fake_review()])
    assert row.action == "update"
    assert row.changes == {"rating": (3, 5), "text": ("一般", "其实还不错")}


def test_empty_cells_change_nothing():
    row = one_row(values=("R1", "", "中评", "", "2026-11-20 10:00", "测试天猫店"),
                  existing=[fake_review(text="一般", product="空调")])
    assert row.action == "unchanged"


def test_without_a_review_id_the_natural_key_finds_the_review_and_changes_only_the_follow_up():
    stored = fake_review(platform_review_id=None)
    row = one_row(values=("", "1001", "好评", "一般", "2026-11-20 10:00", "测试天猫店"), existing=[stored])
    assert row.action == "unchanged" and row.existing is stored
    assert row.notes == ["Differs from review R7 but is not changed, as the row has no review ID: Rating."]
    row = one_row(FOLLOW_UP, ["已换新", "2026-11-21 09:00"], values=("", "1001", "中评", "一般", "2026-11-20 10:00", "测试天猫店"),
                  existing=[stored])
    assert row.action == "update" and set(row.changes) == {"follow_up_text", "follow_up_at"}


def test_same_order_other_text_is_another_review():
    row = one_row(values=("", "1001", "1", "另一条评价", "2026-11-20 10:00", "测试天猫店"),
                  existing=[fake_review(platform_review_id=None)])
    assert row.action == "create" and row.existing is None


def test_a_review_id_fills_in_a_review_imported_without_one():
    row = one_row(existing=[fake_review(platform_review_id=None)])
    assert row.action == "update" and row.changes == {"platform_review_id": (None, "R1")}


def test_a_known_follow_up_is_unchanged_and_a_different_one_is_an_update():
    at = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
    stored = fake_review(follow_up_text="已换新", follow_up_at=at)
    assert one_row(FOLLOW_UP, ["已换新", "2026-11-21 09:00"], existing=[stored]).action == "unchanged"
    assert one_row(FOLLOW_UP, ["", "2026-11-21 09:00"], existing=[stored]).action == "unchanged"  # empty text: no change
    row = one_row(FOLLOW_UP, ["又坏了", "2026-11-21 09:00"], existing=[stored])
    assert row.action == "update" and row.changes == {"follow_up_text": ("已换新", "又坏了")}


def test_a_known_review_of_another_shop_is_refused():
    row = one_row(existing=[fake_review(shop_id=3)])
    assert row.reasons == ["Review R7 is stored for the shop 关掉的天猫店; check the shop chosen for the file."]


def test_two_rows_matching_one_review_refuse_the_later():
    plan = make_plan([["R1", "1001", "1", "很差", "2026-11-20 10:00", "测试天猫店"],   # by its ID, with a new text
                      ["", "1001", "3", "一般", "2026-11-20 10:00", "测试天猫店"]],    # by order, time and the old text
                     existing=[fake_review()])
    assert plan.rows[0].action == "update"
    assert plan.rows[1].reasons == ["Row 2 already matches the same review R7."]


def test_format_value():
    assert review_import.format_value("rating", 2, SHANGHAI) == "2★"
    assert review_import.format_value("reviewed_at", datetime(2026, 11, 20, 2, 0, tzinfo=UTC), SHANGHAI) == "2026-11-20 10:00"
    assert review_import.format_value("shop", 1, SHANGHAI, {1: "测试天猫店"}) == "测试天猫店"
    assert review_import.format_value("order_no", "", SHANGHAI) == "—"


def test_the_template_is_our_columns_and_a_fake_row_refused_as_it_is():
    header, example = review_import.template_rows()
    assert header == [spec.header_zh for spec in review_import.FIELDS.values()]
    assert review_import.resolve_columns(header).missing == []
    plan = make_plan([example], header, default_shop_id=1)
    assert plan.rows[0].action == "refused"
    assert plan.rows[0].reasons == ["店铺: There is no shop named “示例店铺（改为你的店铺名称）”."]


# --- with the database --------------------------------------------------------------------------------

@contextmanager
def in_app(app):
    """A request in English: the messages asserted below are the English ones."""
    with app.test_request_context(), force_locale("en"):
        yield


def shop_named(name: str) -> Shop:
    return db.session.scalar(sa.select(Shop).where(Shop.name == name))


def plan_in_app(rows=None, header=HEADER, table=None, **options):
    options.setdefault("platform", "tmall")
    return plan_import(table or table_of(rows, header), shops=db.session.scalars(sa.select(Shop)).all(), now=utcnow(),
                       zone=SHANGHAI, **options)


def apply_in_app(plan, username="reviewer"):
    result = review_import.apply_import(plan, user_named(username), utcnow(), zone=SHANGHAI, source={"sha256": "x"})
    db.session.commit()
    return result


def review_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Review))


def events(action: str) -> list[TimelineEvent]:
    return db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.action == action).order_by(TimelineEvent.id)).all()


def test_real_jd_reviews_through_a_mapping(app):
    """4,813 real 1- and 2-star JD reviews: every row created, and the same file again changes nothing."""
    if not JD_FILE.exists():
        pytest.skip(f"shared review data not found at {JD_FILE}; this test needs the team's /work/shared/data")
    data = JD_FILE.read_bytes()
    with JD_FILE.open(encoding="utf-8", newline="") as handle:
        source = list(csv.DictReader(handle))
    with in_app(app):
        shop = shop_named("测试京东店")
        plan = plan_in_app(table=read_table(data, JD_FILE.name), platform="jd_pop", default_shop_id=shop.id,
                           mapping=JD_MAPPING)
        assert plan.counts == {"create": len(source), "update": 0, "unchanged": 0, "refused": 0}, plan.refused[:3]
        result = apply_in_app(plan)
        assert len(result.created) == len(source) == review_count()
        reviews = {review.id: review for review in db.session.scalars(sa.select(Review))}
        for review_id, row in zip(result.created, source, strict=True):
            review = reviews[review_id]
            local = datetime.strptime(row["review_time"], "%Y/%m/%d %H:%M").replace(tzinfo=SHANGHAI)
            assert review.reviewed_at == local.astimezone(UTC)
            assert (review.platform_review_id, review.rating, review.shop_id, review.platform) == (
                row["source_id"], int(row["rating"]), shop.id, "jd_pop")
            assert review.product == spreadsheets.clean_text(row["product_name"], 200)[0]
            assert review.text == spreadsheets.clean_text(row["text"], 5000, single_line=False)[0]
            assert review.text_digest == text_digest(review.text) and review.state == "todo"
            assert review.suggested_cause in worklist.causes()
        assert len(events("review_imported")) == len(source)

        again = plan_in_app(table=read_table(data, JD_FILE.name), platform="jd_pop", default_shop_id=shop.id,
                            mapping=JD_MAPPING)
        assert again.counts == {"create": 0, "update": 0, "unchanged": len(source), "refused": 0}
        assert not again.ready
        with pytest.raises(PlanNotReady):
            review_import.apply_import(again, user_named("reviewer"), utcnow(), zone=SHANGHAI)
        assert review_count() == len(source)


def test_a_malformed_file_is_refused_row_by_row_and_nothing_is_imported(app):
    rows = [["TM-1", "1001", "差评", "外箱破了", "2026-01-10 09:00", "测试天猫店"],
            ["TM-2", "1002", "很差", "不制冷", "2026-01-10 09:05", "测试天猫店"],
            ["TM-3", "1003", "1", "噪音大", "2026/13/45 10:00", "测试天猫店"],
            ["TM-1", "1004", "2", "安装慢", "2026-01-10 09:10", "测试天猫店"]]
    with in_app(app):
        plan = plan_in_app(rows)
        assert plan.counts == {"create": 1, "update": 0, "unchanged": 0, "refused": 3}
        assert [(row.number, row.reasons) for row in plan.refused] == [
            (3, ["评分: “很差” is not a rating. Use 1 to 5 (stars) or one of: 好评、中评、差评."]),
            (4, ["评价时间: “2026/13/45 10:00” is not a real date."]),
            (5, ["The same review ID as row 2."]),
        ]
        assert not plan.ready
        with pytest.raises(PlanNotReady):
            review_import.apply_import(plan, user_named("reviewer"), utcnow(), zone=SHANGHAI)
        db.session.rollback()

        missing = plan_in_app([row[:4] + row[5:] for row in rows], HEADER[:4] + HEADER[5:])
        assert missing.problems == ["Required columns are missing: Review time (评价时间/评论时间/初评时间). "
                                    "Add them to the file or choose them in the column mapping."]
        with pytest.raises(PlanNotReady):
            review_import.apply_import(missing, user_named("reviewer"), utcnow(), zone=SHANGHAI)
        db.session.rollback()
        assert review_count() == 0 and events("review_imported") == [] and events("imported") == []


def test_a_gbk_csv_from_chinese_excel(app):
    data = csv_bytes([HEADER, ["TM-1", "1001", "差评", "空调不制冷，安装师傅还多收了材料费", "2026-01-10 09:00", "测试天猫店"]],
                     "gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the test would prove nothing otherwise
    table = read_table(data, "评价.csv")
    assert table.encoding == "GB18030" and table.headers == HEADER
    with in_app(app):
        [review_id] = apply_in_app(plan_in_app(table=table)).created
        review = db.session.get(Review, review_id)
        assert review.text == "空调不制冷，安装师傅还多收了材料费" and review.shop.name == "测试天猫店"


def test_an_xlsx_export_with_typed_cells(app):
    workbook = openpyxl.Workbook()
    workbook.active.append(["评论ID", "订单编号", "用户昵称", "商品标题", "颜色分类", "星级", "评论内容", "评论时间", "评价图片"])
    workbook.active.append([202601100001, "0012345", "小林", "静音空调 1.5匹", "白色", 2, "晚上噪音很大",
                            datetime(2026, 1, 10, 21, 15), "https://img.example.test/1.jpg;https://img.example.test/2.jpg"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = read_table(buffer.getvalue(), "评价.xlsx")
    assert table.file_format == "xlsx"
    with in_app(app):
        plan = plan_in_app(table=table, default_shop_id=shop_named("测试天猫店").id)
        assert plan.counts["create"] == 1, plan.refused[0].reasons if plan.refused else ""
        [review_id] = apply_in_app(plan).created
        review = db.session.get(Review, review_id)
        assert (review.platform_review_id, review.order_no, review.buyer_nick, review.product, review.sku) == (
            "202601100001", "0012345", "小林", "静音空调 1.5匹", "白色")
        assert (review.rating, review.picture_count, review.text) == (2, 2, "晚上噪音很大")
        assert review.reviewed_at == datetime(2026, 1, 10, 13, 15, tzinfo=UTC)


def test_apply_records_each_review_and_the_import(app):
    rows = [["TM-1", "1001", "差评", "外箱破了", "2026-01-10 09:00", "测试天猫店"],
            ["TM-2", "1002", "好评", "不错", "2026-01-10 09:05", "测试天猫店"]]
    with in_app(app):
        result = apply_in_app(plan_in_app(rows))
        assert len(result.created) == 2 and result.updated == [] and result.unchanged == 0
        bad, good = (db.session.get(Review, review_id) for review_id in result.created)
        assert bad.suggested_cause in worklist.causes() and good.suggested_cause == ""  # 5 stars: not on any list
        assert (bad.state, bad.platform, bad.text_digest) == ("todo", "tmall", text_digest("外箱破了"))
        imported = events("review_imported")
        assert [(event.subject_type, event.subject_id, event.detail["file"]) for event in imported] == [
            ("review", review_id, "reviews.csv") for review_id in result.created]
        assert all(event.actor.username == "reviewer" for event in imported)
        [event] = events("imported")
        assert (event.subject_type, event.detail["area"], event.detail["platform"], event.detail["file"]) == (
            "import", "reviews", "tmall", "reviews.csv")
        assert (event.detail["rows"], event.detail["created"], event.detail["updated"], event.detail["unchanged"],
                event.detail["sha256"]) == (2, 2, 0, 0, "x")


def test_a_follow_up_re_import_updates_the_known_review_and_is_credited_to_the_contact_before_it(app):
    header = ["评价ID", "订单号", "买家昵称", "评分", "评价内容", "评价时间", "店铺"]
    row = ["TM-1", "1001", "小林", "差评", "收到时外箱破了", "2026-01-10 09:00", "测试天猫店"]
    with in_app(app):
        [review_id] = apply_in_app(plan_in_app([row], header)).created
        review = db.session.get(Review, review_id)
        contact = worklist.record_contact(review, user_named("reviewer"), "phone", "resolved", "",
                                          datetime(2026, 1, 10, 4, 0, tzinfo=UTC), utcnow())
        db.session.commit()

        second = [[*row, "客服很快换了新的", "2026-01-12 08:30"]]
        plan = plan_in_app(second, [*header, "追评内容", "追评时间"])
        assert plan.counts["update"] == 1
        assert plan.rows[0].changes == {"follow_up_at": (None, datetime(2026, 1, 12, 0, 30, tzinfo=UTC)),
                                        "follow_up_text": ("", "客服很快换了新的")}
        result = apply_in_app(plan)
        assert result.updated == [review_id] and result.created == []
        db.session.expire_all()
        review = db.session.get(Review, review_id)
        assert (review.follow_up_text, review.follow_up_at) == ("客服很快换了新的", datetime(2026, 1, 12, 0, 30, tzinfo=UTC))
        assert review.follow_up_contact_id == contact.id
        [event] = events("review_followed_up")
        assert (event.subject_id, event.detail["text"], event.detail["credited"]) == (review_id, "客服很快换了新的",
                                                                                     "reviewer name")

        third = plan_in_app(second, [*header, "追评内容", "追评时间"])
        assert third.counts == {"create": 0, "update": 0, "unchanged": 1, "refused": 0} and not third.ready
        assert review_count() == 1


def test_a_changed_rating_with_a_review_id_is_an_update_in_the_timeline(app):
    row = ["TM-1", "1001", "中评", "一般般", "2026-01-10 09:00", "测试天猫店"]
    with in_app(app):
        [review_id] = apply_in_app(plan_in_app([row])).created
        plan = plan_in_app([["TM-1", "1001", "好评", "", "2026-01-10 09:00", "测试天猫店"]])
        assert plan.rows[0].changes == {"rating": (3, 5)}
        assert apply_in_app(plan, "lead").updated == [review_id]
        db.session.expire_all()
        assert db.session.get(Review, review_id).rating == 5
        assert db.session.get(Review, review_id).text == "一般般"  # the empty cell changed nothing
        [event] = events("review_updated")
        assert (event.subject_id, event.actor.username, event.detail["changes"]) == (review_id, "lead", {"rating": [3, 5]})


def test_without_review_ids_the_natural_key_matches_and_other_text_is_a_new_review(app):
    header = ["订单号", "评分", "评价内容", "评价时间", "店铺"]
    first = [["1001", "1", "质量差 真的差", "2026-01-10 09:00", "测试天猫店"],
             ["1002", "2", "", "2026-01-10 09:00", "测试天猫店"]]
    with in_app(app):
        created = apply_in_app(plan_in_app(first, header)).created
        assert db.session.get(Review, created[0]).platform_review_id is None
        again = [["1001", "1", "质量差  真的差", "2026-01-10 09:00", "测试天猫店"],   # whitespace differs: the same review
                 ["1002", "2", "", "2026-01-10 09:00", "测试天猫店"],               # stars only: the same review
                 ["1001", "1", "另一件也坏了", "2026-01-10 09:00", "测试天猫店"]]     # same order, other text: new
        plan = plan_in_app(again, header)
        assert [row.action for row in plan.rows] == ["unchanged", "unchanged", "create"]
        assert [row.existing.id for row in plan.rows[:2]] == created
        apply_in_app(plan)
        assert review_count() == 3


def test_a_review_whose_list_formed_joins_it_late_and_others_wait(app):
    rows = [["TM-1", "", "差评", "坏了", "2026-01-10 15:00", "测试天猫店"],      # list of 01-11: formed
            ["TM-2", "", "好评", "好", "2026-01-10 16:00", "测试天猫店"],        # 5 stars: on no list
            ["TM-3", "", "中评", "一般", "2026-01-11 00:30", "测试天猫店"],      # shop date 01-11 (UTC 01-10): list 01-12
            ["TM-4", "", "2", "慢", "2026-01-12 10:00", "测试天猫店"]]           # list of 01-13: not formed
    with in_app(app):
        db.session.add(ReviewDay(day=date(2026, 1, 11), formed_at=datetime(2026, 1, 11, 2, 0, tzinfo=UTC), snapshot_count=0))
        db.session.commit()
        created = apply_in_app(plan_in_app(rows)).created
        late, good, middle, later = (db.session.get(Review, review_id) for review_id in created)
        assert (late.list_date, late.late) == (date(2026, 1, 11), True)
        assert late.assignee.username == "reviewer"  # shared out as the list was
        for waiting in (good, middle, later):
            assert (waiting.list_date, waiting.late, waiting.assignee_id) == (None, False, None)


def test_script_text_is_stored_verbatim(app):
    text = "<script>alert(1)</script>"
    with in_app(app):
        [review_id] = apply_in_app(plan_in_app([["TM-1", "", "1", text, "2026-01-10 09:00", "测试天猫店"]])).created
        db.session.expire_all()
        review = db.session.get(Review, review_id)
        assert review.text == text and review.text_digest == text_digest(text)


def test_a_shops_corrections_shape_the_suggested_cause(app):
    text = "外箱破了一个角"
    with in_app(app):
        [first] = apply_in_app(plan_in_app([["TM-1", "1001", "1", text, "2026-01-10 09:00", "测试天猫店"]])).created
        review = db.session.get(Review, first)
        corrected = next(cause for cause in worklist.causes() if cause != review.suggested_cause)
        worklist.set_cause(review, corrected, user_named("reviewer"))
        db.session.commit()
        [second] = apply_in_app(plan_in_app([["TM-2", "1002", "1", text, "2026-01-11 09:00", "测试天猫店"]])).created
        assert db.session.get(Review, second).suggested_cause == corrected
        # another shop has not learned it
        [third] = apply_in_app(plan_in_app([["JD-3", "1003", "1", text, "2026-01-11 09:00", "测试京东店"]],
                                           platform="jd_pop")).created
        assert db.session.get(Review, third).suggested_cause == review.suggested_cause != corrected


def test_a_cause_the_lead_took_off_the_list_is_suggested_as_other(app):
    with in_app(app):
        set_setting("review_causes", [cause for cause in worklist.DEFAULT_CAUSES if cause != "物流"])
        db.session.commit()
        [review_id] = apply_in_app(plan_in_app([["TM-9", "1009", "1", "快递太慢了，一个星期才到", "2026-01-10 09:00",
                                                 "测试天猫店"]])).created
        assert db.session.get(Review, review_id).suggested_cause == "其他"
