"""Importing a marketplace's review export (评价管理): read the file, plan every row, apply all or nothing.

The same shape as cases/importing.py, so one set of import views drives both:

    table = spreadsheets.read_table(data, filename)
    plan = plan_import(table, platform=..., shops=..., now=..., zone=...)
    if plan.ready:
        apply_import(plan, actor, now, zone=zone, source={...})   # then commit: one transaction

A row's key is (platform, review ID) when it has one, else (platform, order no., review time, text):
importing the same file twice creates and changes nothing the second time. A known review is updated
only by what is new: a follow-up review (追评) and, when the row has a review ID, a changed rating, text,
product, SKU or picture count (a buyer may change a middle review to a good one). Empty cells change
nothing. Texts are stored as the buyer wrote them; escaping is the templates' job.

Decisions worth knowing
-----------------------
* A follow-up text without a follow-up time is not imported (the row is, with a note): the time decides
  whether the marketplace still takes an explanation and which contact the follow-up is credited to, and
  the import's own time would be a made-up fact. The review itself must not wait for a missing column,
  because it belongs on tomorrow's list. A follow-up time without a text is imported: the buyer did add
  a follow-up (pictures only, or the export leaves its text out), which is what closes the reply window.
* A follow-up may not be in the future at all (5 minutes for clocks, as ``worklist.record_follow_up``
  checks when it is applied); a review may be up to a day ahead, as in the case import.
* A row without a review ID cannot prove that a differing rating or text belongs to the same review,
  so it changes nothing but its follow-up; the row says what differs.
* A known review named for another shop is refused: the shop chosen for the file is probably wrong,
  and moving reviews between shops silently would move their figures too.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

import spreadsheets
from models import Review, Shop, TimelineEvent, User, db, event_topic, record
from reviews import causes, worklist
from reviews.labels import OTHER_CAUSE, RATING_WORDS
from spreadsheets import (
    CREATE,
    REFUSED,
    UNCHANGED,
    UPDATE,
    CellError,
    Columns,
    FieldSpec,
    ImportTable,
    PlanNotReady,
    RowPlan,
    cell_text,
    clean_text,
    normalise,
    parse_datetime,
    parse_identifier,
    quote,
)

FUTURE_SLACK = timedelta(days=1)            # clocks differ; a review "from tomorrow" is a typo
FOLLOW_UP_SLACK = timedelta(minutes=5)      # what worklist.record_follow_up allows when the import is applied
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
TEXT_LIMIT = 5_000                          # marketplaces stop at a few hundred characters; more is pasted noise
NAME_LIMIT = 200                            # product and SKU, as in the model
NICK_LIMIT = 64
MAX_PICTURES = 100
CHUNK = 500                                 # keys per query when looking for known reviews
REQUIRED = ("rating", "reviewed_at", "shop")
KEY_FIELDS = ("platform_review_id", "order_no", "buyer_nick", "rating", "reviewed_at", "shop")  # the preview's columns
UPDATABLE = ("rating", "text", "product", "sku", "picture_count")  # what a row with a review ID may change


# --- our fields and the column names that mean them ------------------------------------
#
# The names are the ones marketplace back offices (千牛, 京麦, 抖店 评价管理), their open APIs and the
# common review export tools use for these columns, plus the English field names of such files. We could
# not check every back office's current export, so none is claimed as one platform's: a file that names a
# column otherwise is mapped once in the column mapping, which is saved for its platform.

FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in (
    FieldSpec("platform_review_id", "评价ID", _l("Review ID"),
              ("评价编号", "评论ID", "评论编号", "评价id", "评价单号", "commentId", "comment_id", "review_id",
               "platform_review_id")),
    FieldSpec("order_no", "订单号", _l("Order no."),
              ("订单编号", "订单ID", "子订单编号", "子订单号", "主订单编号", "主订单号", "父订单号", "order_id", "order_no")),
    FieldSpec("buyer_nick", "买家昵称", _l("Buyer nickname"),
              ("用户昵称", "会员名", "买家会员名", "买家账号", "评价人", "昵称", "用户名", "nickname", "buyer_nick")),
    FieldSpec("product", "商品名称", _l("Product"),
              ("宝贝标题", "商品标题", "宝贝名称", "商品", "宝贝", "product_name", "item_title", "product")),
    FieldSpec("sku", "商品规格", _l("SKU"),
              ("SKU", "颜色分类", "销售属性", "规格", "商品属性", "SKU名称", "sku_name")),
    FieldSpec("rating", "评分", _l("Rating"),
              ("星级", "评价等级", "评价类型", "评价结果", "商品评分", "评价星级", "评论星级", "score", "rating")),
    FieldSpec("text", "评价内容", _l("Review text"),
              ("评论内容", "初评内容", "买家评价", "评价正文", "content", "text")),
    FieldSpec("reviewed_at", "评价时间", _l("Review time"),
              ("评论时间", "初评时间", "评价日期", "评论日期", "review_time", "comment_time", "reviewed_at")),
    FieldSpec("picture_count", "图片数", _l("Pictures"),
              ("图片数量", "晒图数", "评价图片", "晒图", "图片", "image_count", "picture_count")),
    FieldSpec("follow_up_text", "追评内容", _l("Follow-up review"),
              ("追加评论", "追加评价", "追评", "follow_up_text")),
    FieldSpec("follow_up_at", "追评时间", _l("Follow-up time"),
              ("追加评论时间", "追加评价时间", "追评日期", "follow_up_at")),
    FieldSpec("shop", "店铺", _l("Shop"),
              ("店铺名称", "店铺名", "shop")),
)}

TEMPLATE_FIELDS = tuple(FIELDS)
# One example row for the template: clearly fake, and refused if imported unchanged (no such shop).
TEMPLATE_EXAMPLE = {
    "platform_review_id": "示例-评价-0001",
    "order_no": "示例-0000000001",
    "buyer_nick": "示例买家（请删除本行）",
    "product": "示例商品（虚构）",
    "sku": "颜色分类：示例色",
    "rating": "差评",
    "text": "示例：外箱压坏，机身有划痕（虚构数据）",
    "reviewed_at": "2026-01-05 10:30",
    "picture_count": "2",
    "follow_up_text": "示例追评：客服已处理（虚构数据）",
    "follow_up_at": "2026-01-08 09:00",
    "shop": "示例店铺（改为你的店铺名称）",
}

# Ratings as words: the marketplaces' three levels (reviews.labels.RATING_WORDS) and the values of the
# result field of Taobao's open API (good / neutral / bad).
RATING_TABLE = {normalise(word): stars for word, stars in
                (*RATING_WORDS.items(), ("good", 5), ("neutral", 3), ("bad", 1))}
_RATING_NUMBER = re.compile(r"^([1-5一二两三四五])(?:\.0+)?(?:星|颗星|分|stars?)?$")
_CHINESE_NUMBERS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_STARS = re.compile(r"^(★{1,5})☆*$")
_PICTURE_SEPARATORS = re.compile(r"[,;|\s，；、]+")
_PICTURE_NUMBER = re.compile(r"^(\d+)(?:张|张图|张图片)?$")
_PICTURE_LINK = re.compile(r"[./]")  # a link or a file name: img.example.com/a.jpg, //host/a, a.png


def field_title(name: str) -> str:
    return spreadsheets.field_title(FIELDS[name])


def header_aliases() -> dict[str, tuple[str, ...]]:
    return spreadsheets.header_aliases(FIELDS)


def resolve_columns(headers: list[str], mapping: dict | None = None, *, has_default_shop: bool = False) -> Columns:
    """The file's columns for our fields; the shop column is optional when one shop is chosen for the file."""
    required = [name for name in REQUIRED if not (name == "shop" and has_default_shop)]
    return spreadsheets.resolve_columns(headers, header_aliases(), required, mapping)


def text_digest(text: str) -> str:
    """The text part of a review's natural key: sha256 of the text with its whitespace runs made one space."""
    return hashlib.sha256(" ".join((text or "").split()).encode()).hexdigest()


# --- cell values ----------------------------------------------------------------------------

def parse_rating(value) -> int:
    """1–5 stars from 1, 1.0, "1", "1星", "一星", "★★", or 好评/中评/差评 (好/中/差) as 5/3/1."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if float(value).is_integer() and 1 <= value <= 5:
            return int(value)
    else:
        text = unicodedata.normalize("NFKC", cell_text(value)).strip().casefold().replace(" ", "")
        found = _RATING_NUMBER.match(text)
        if found:
            digit = found.group(1)
            return _CHINESE_NUMBERS.get(digit) or int(digit)
        found = _STARS.match(text)
        if found:
            return len(found.group(1))
        stars = RATING_TABLE.get(normalise(text))
        if stars is not None:
            return stars
    raise CellError(_l("“%(value)s” is not a rating. Use 1 to 5 (stars) or one of: %(words)s.",
                       value=quote(value), words="好评、中评、差评"))


def parse_picture_count(value) -> int:
    """A number of pictures, or the pictures' links (separated by , ; | or spaces), counted."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        count = int(value) if float(value).is_integer() and value >= 0 else -1
    else:
        text = unicodedata.normalize("NFKC", cell_text(value)).strip()
        found = _PICTURE_NUMBER.match(text)
        if found:
            count = int(found.group(1))
        else:
            parts = [part for part in _PICTURE_SEPARATORS.split(text) if part]
            count = len(parts) if parts and all(_PICTURE_LINK.search(part) for part in parts) else -1
    if count < 0:
        raise CellError(_l("“%(value)s” is neither a number of pictures nor picture links.", value=quote(value)))
    if count > MAX_PICTURES:
        raise CellError(_l("At most %(max)s pictures.", max=MAX_PICTURES))
    return count


# --- the plan ------------------------------------------------------------------------------

@dataclass
class ImportPlan(spreadsheets.ImportPlan):
    platform: str = ""
    default_shop_id: int | None = None
    shop_names: dict = field(default_factory=dict)  # shop id -> name, for showing values


def find_existing_reviews(platform: str, review_ids: set[str], reviewed_at: set[datetime]) -> list[Review]:
    """The reviews a file's rows may match: by review ID, and by review time (order and text checked after).

    The time is the selective, indexed part of the natural key; the order no. is often empty.
    """
    found: dict[int, Review] = {}
    for column, keys in ((Review.platform_review_id, sorted(review_ids)), (Review.reviewed_at, sorted(reviewed_at))):
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start:start + CHUNK]
            for review in db.session.scalars(sa.select(Review).where(Review.platform == platform, column.in_(chunk))):
                found[review.id] = review
    return list(found.values())


def plan_import(table: ImportTable, *, platform: str, shops: Iterable[Shop], now: datetime,
                zone: ZoneInfo = DEFAULT_ZONE, default_shop_id: int | None = None, mapping: dict | None = None,
                find_existing: Callable[[str, set, set], list] | None = None) -> ImportPlan:
    """Decide, for every row, create / update / unchanged / refused, and why. Writes nothing.

    ``shops`` are all the shops (a row naming a shop of another platform is refused);
    ``find_existing`` is find_existing_reviews unless a test gives another.
    """
    shops = list(shops)
    columns = resolve_columns(table.headers, mapping, has_default_shop=default_shop_id is not None)
    plan = ImportPlan(table, columns, [], spreadsheets.missing_columns(columns, FIELDS),
                      spreadsheets.column_warnings(table, columns, mapping, field_title),
                      platform=platform, default_shop_id=default_shop_id,
                      shop_names={shop.id: shop.name for shop in shops})
    if plan.problems:
        return plan
    if "follow_up_text" in columns.index and "follow_up_at" not in columns.index:
        plan.warnings.append(_("The file has follow-up reviews (%(column)s) but no follow-up time: they are not "
                               "imported. Choose the time's column in the mapping to import them.",
                               column=columns.header["follow_up_text"]))
    context = _RowContext(platform, shops, default_shop_id, now, zone)
    plan.rows = [_parse_row(number, cells, columns, context) for number, cells in table.rows]
    spreadsheets.refuse_repeated_keys(plan.rows, ROW_KEYS)
    _match_existing(plan.rows, platform, columns, find_existing or find_existing_reviews)
    return plan


@dataclass
class _RowContext:
    platform: str
    shops: list
    default_shop_id: int | None
    now: datetime
    zone: ZoneInfo

    def __post_init__(self):
        self.shops_by_name = {normalise(shop.name): shop for shop in self.shops}


def _parse_row(number: int, cells: list, columns: Columns, context: _RowContext) -> RowPlan:
    row = spreadsheets.read_row(number, cells, columns, lambda name, value, row: _parse_value(name, value, row, context))
    for name in ("rating", "reviewed_at"):
        if not row.cells.get(name):
            row.refuse(_("%(column)s is empty.", column=columns.header[name]))
    if "shop" not in row.values and not row.cells.get("shop"):
        if context.default_shop_id is None:
            row.refuse(_("No shop: fill in the shop column or choose a shop for the whole file."))
        else:
            row.values["shop"] = context.default_shop_id
    reviewed = row.values.get("reviewed_at")
    if reviewed is not None and reviewed > context.now + FUTURE_SLACK:
        row.refuse(_("%(column)s: more than a day in the future.", column=columns.header["reviewed_at"]))
    _check_follow_up(row, columns, context.now)
    return row


def _check_follow_up(row: RowPlan, columns: Columns, now: datetime) -> None:
    text, at = row.values.get("follow_up_text"), row.values.get("follow_up_at")
    if at is not None:
        if at > now + FOLLOW_UP_SLACK:
            row.refuse(_("%(column)s is in the future.", column=columns.header["follow_up_at"]))
        elif row.values.get("reviewed_at") is not None and at < row.values["reviewed_at"]:
            row.refuse(_("%(column)s is earlier than %(other)s.", column=columns.header["follow_up_at"],
                         other=columns.header["reviewed_at"]))
        elif not text:
            row.notes.append(_("The follow-up review has a time but no text; only its time is imported."))
    elif text and not row.cells.get("follow_up_at"):
        # No time: the import's own time would be made up (see the module doc). The review itself comes in.
        del row.values["follow_up_text"]
        row.notes.append(_("The follow-up review has no time, so it is not imported; add its time to import it."))


def _parse_value(name: str, value, row: RowPlan, context: _RowContext):
    if name in ("platform_review_id", "order_no"):
        return parse_identifier(value)
    if name == "buyer_nick":
        text, _shortened = clean_text(value, 10_000)
        if len(text) > NICK_LIMIT:
            raise CellError(_l("Longer than %(max)s characters.", max=NICK_LIMIT))
        return text
    if name in ("product", "sku"):
        return _limited(name, value, row, NAME_LIMIT, single_line=True)
    if name in ("text", "follow_up_text"):
        return _limited(name, value, row, TEXT_LIMIT, single_line=False)
    if name == "rating":
        return parse_rating(value)
    if name in ("reviewed_at", "follow_up_at"):
        return parse_datetime(value, context.zone)
    if name == "picture_count":
        return parse_picture_count(value)
    if name == "shop":
        shop = context.shops_by_name.get(normalise(cell_text(value)))
        if shop is None:
            raise CellError(_l("There is no shop named “%(name)s”.", name=quote(value)))
        if shop.platform != context.platform:
            raise CellError(_l("“%(name)s” is a shop on another platform.", name=shop.name))
        if not shop.active:
            raise CellError(_l("The shop “%(name)s” is deactivated.", name=shop.name))
        return shop.id
    raise KeyError(name)


def _limited(name: str, value, row: RowPlan, limit: int, *, single_line: bool) -> str:
    text, shortened = clean_text(value, limit, single_line=single_line)
    if shortened:
        row.notes.append(_("%(field)s was shortened to %(max)s characters.", field=field_title(name), max=limit))
    return text


def natural_key(values: dict) -> tuple:
    """(order no., review time, text digest): a review's key when it has no review ID."""
    return values.get("order_no", ""), values.get("reviewed_at"), text_digest(values.get("text", ""))


ROW_KEYS = spreadsheets.RowKeys(
    id_of=lambda row: row.values.get("platform_review_id"),
    key_of=lambda row: natural_key(row.values) if row.values.get("reviewed_at") is not None else None,
    stored_id_of=lambda review: review.platform_review_id,
    same_id=lambda first: _("The same review ID as row %(row)s.", row=first),
    same_key_without_id=lambda first: _("The same order no., review time and text as row %(row)s, which has no review ID.",
                                        row=first),
    same_key=lambda first: _("The same order no., review time and text as row %(row)s; add the review ID to tell "
                             "them apart.", row=first),
    ambiguous=lambda count: _("%(count)s reviews already exist with this order no., review time and text; add the "
                              "review ID to choose one.", count=count),
    matched_twice=lambda first, reference: _("Row %(row)s already matches the same review %(review)s.", row=first,
                                             review=reference),
)


def _match_existing(rows: list[RowPlan], platform: str, columns: Columns, find_existing: Callable) -> None:
    """Known reviews: by review ID first; the rows left over by order no., time and text."""
    live = [row for row in rows if row.action != REFUSED]
    review_ids = {row.values["platform_review_id"] for row in live if row.values.get("platform_review_id")}
    by_id = {review.platform_review_id: review for review in find_existing(platform, review_ids, set())
             if review.platform_review_id} if review_ids else {}
    left = [row for row in live if row.values.get("platform_review_id") not in by_id]
    by_key: dict[tuple, list] = defaultdict(list)
    if left:
        for review in find_existing(platform, set(), {row.values["reviewed_at"] for row in left}):
            by_key[(review.order_no, review.reviewed_at, review.text_digest)].append(review)
    for row, review in spreadsheets.matched_rows(live, ROW_KEYS, by_id, by_key):
        if row.values["shop"] != review.shop_id:
            row.refuse(_("Review %(review)s is stored for the shop %(shop)s; check the shop chosen for the file.",
                         review=review.reference, shop=review.shop.name))
            continue
        row.changes = _changes(review, row, columns)
        if row.action != REFUSED:
            row.action = UPDATE if row.changes else UNCHANGED


def _changes(review: Review, row: RowPlan, columns: Columns) -> dict:
    """What the row brings that the stored review lacks; empty cells change nothing."""
    values, changes = row.values, {}
    review_id = values.get("platform_review_id")
    if review_id and not review.platform_review_id:
        changes["platform_review_id"] = (None, review_id)
    differing = {name: (getattr(review, name), values[name]) for name in UPDATABLE
                 if name in values and getattr(review, name) != values[name]}
    if review_id:
        changes.update(differing)
    elif differing:
        row.notes.append(_("Differs from review %(review)s but is not changed, as the row has no review ID: %(fields)s.",
                           review=review.reference, fields="、".join(field_title(name) for name in differing)))
    at, text = values.get("follow_up_at"), values.get("follow_up_text")
    if at is not None:
        if at < review.reviewed_at:  # the stored review's time, which record_follow_up checks
            row.refuse(_("%(column)s is earlier than %(other)s.", column=columns.header["follow_up_at"],
                         other=columns.header["reviewed_at"]))
            return changes
        if at != review.follow_up_at:
            changes["follow_up_at"] = (review.follow_up_at, at)
        if text and text != review.follow_up_text:
            changes["follow_up_text"] = (review.follow_up_text, text)
    return changes


def new_review_values(row: RowPlan, platform: str, now: datetime) -> dict:
    """The columns of a review to create from a row; empty cells take the model's defaults."""
    values = {("shop_id" if name == "shop" else name): value for name, value in row.values.items()}
    values.setdefault("text", "")
    values.update(platform=platform, text_digest=text_digest(values["text"]), state="todo", created_at=now,
                  updated_at=now)
    return values


def format_value(name: str, value, zone: ZoneInfo, shop_names: dict | None = None) -> str:
    """A parsed value as the preview shows it: stars, the shop's name, local time."""
    if value is None or value == "":
        return "—"
    if name == "rating":
        return f"{value}★"
    if name == "shop":
        return (shop_names or {}).get(value, str(value))
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return str(value)


# --- applying ----------------------------------------------------------------------------------

@dataclass
class ImportResult:
    created: list[int]
    updated: list[int]
    unchanged: int


def apply_import(plan: ImportPlan, actor: User | None, now: datetime, *, zone: ZoneInfo,
                 source: dict | None = None) -> ImportResult:
    """Create and update every review of a ready plan in the current transaction; flushes, the caller commits.

    The import as a whole gets one event (subject "import") besides each review's own (``apply_rows``).
    """
    if not plan.ready:
        raise PlanNotReady("the plan has refused rows, a problem, or nothing to do")
    filename = plan.table.filename
    result = apply_rows(plan.rows, plan.platform, actor, now, zone=zone, origin={"file": filename})
    record(actor, "import", 0, "imported", area="reviews", platform=plan.platform, shop_id=plan.default_shop_id,
           file=filename, rows=len(plan.rows), created=len(result.created), updated=len(result.updated),
           unchanged=result.unchanged, created_ids=result.created, updated_ids=result.updated, **(source or {}))
    db.session.flush()
    return result


def apply_rows(rows: list[RowPlan], platform: str, actor: User | None, now: datetime, *, zone: ZoneInfo,
               origin: dict) -> ImportResult:
    """Create and update the reviews of planned rows (refused ones are left out); flushes. The import's confirm
    applies a whole file, sync (sync/runner.py) a page of records; ``origin`` says which in each new review's
    timeline event ({"file": name} or {"via": "sync"}).

    New reviews get their suggested cause (with the shop's corrections), and those whose day's list
    formed already join it marked late. Each created review gets a timeline event, each updated one
    the events of its changes.
    """
    creating = [row for row in rows if row.action == CREATE]
    new_reviews = [Review(**new_review_values(row, platform, now)) for row in creating]
    _suggest_causes([review for review in new_reviews if worklist.goes_on_list(review)])
    db.session.add_all(new_reviews)
    db.session.flush()

    updated, relisted = [], []
    for row in rows:
        if row.action == UPDATE:
            if _apply_changes(row.existing, row.changes, actor, now):
                relisted.append(row.existing)
            updated.append(row.existing.id)
    _suggest_causes([review for review in relisted if worklist.goes_on_list(review)])
    worklist.place_new(new_reviews + relisted, zone)

    if new_reviews:
        actor_id = actor.id if actor is not None else None
        db.session.execute(sa.insert(TimelineEvent), [
            {"created_at": now, "actor_id": actor_id, "subject_type": "review", "subject_id": review.id,
             "action": "review_imported", "detail": {**origin, "row": row.number},
             "topic": event_topic("review", "review_imported", origin)}
            for review, row in zip(new_reviews, creating, strict=True)])
    unchanged = sum(1 for row in rows if row.action == UNCHANGED)
    return ImportResult([review.id for review in new_reviews], updated, unchanged)


def _apply_changes(review: Review, changes: dict, actor: User | None, now: datetime) -> bool:
    """One review's changes: its fields (one timeline event), then its follow-up through the worklist's rule.
    Returns whether its rating or text changed (its suggested cause is then made again)."""
    fields = {name: pair for name, pair in changes.items() if not name.startswith("follow_up_")}
    for name, (_old, new) in fields.items():
        setattr(review, name, new)
    if "text" in fields:
        review.text_digest = text_digest(review.text)
    if fields:
        record(actor, "review", review.id, "review_updated", changes={name: list(pair) for name, pair in fields.items()})
    if "follow_up_at" in changes or "follow_up_text" in changes:
        text = changes["follow_up_text"][1] if "follow_up_text" in changes else review.follow_up_text
        at = changes["follow_up_at"][1] if "follow_up_at" in changes else review.follow_up_at
        worklist.record_follow_up(review, text, at, actor, now)
    return "rating" in fields or "text" in fields


def _suggest_causes(reviews: list[Review]) -> None:
    """The suggested cause of each review, shop by shop with what the shop's reviewers confirmed. A cause the
    lead took off the list is suggested as 其他 (a shop's learned causes may also be ones the lead added)."""
    listed = set(worklist.causes())
    by_shop: dict[int, list[Review]] = defaultdict(list)
    for review in reviews:
        by_shop[review.shop_id].append(review)
    for shop_id, members in by_shop.items():
        corrections = worklist.shop_corrections(shop_id)
        lexicon = causes.learn(list(corrections.items())) if corrections else None
        for review, suggestion in zip(members, causes.suggest_many([review.text for review in members],
                                                                   corrections=lexicon), strict=True):
            review.suggested_cause = suggestion.cause if suggestion.cause in listed else OTHER_CAUSE


# --- the template -----------------------------------------------------------------------------

def template_rows() -> list[list[str]]:
    """The documented template: our Chinese column names and one clearly fake example row."""
    return [[FIELDS[name].header_zh for name in TEMPLATE_FIELDS], [TEMPLATE_EXAMPLE[name] for name in TEMPLATE_FIELDS]]
