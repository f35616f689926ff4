"""The month's figures from a CSV or Excel file: one row per shop and month, the industry values (行业值) and the
shop's own figures as columns. All or nothing: a file with any bad cell is refused with every row's message.

Columns (Chinese, or the English labels, or the keys): 店铺, 月份 (YYYY-MM), then any of the figures of
``COLUMNS``; an empty cell leaves the stored figure as it is. A published month is refused (reopen it first).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

import spreadsheets
from compensation.report import MONTH
from models import Shop, User, db
from scoring import months
from scoring.figures import decimal_text
from scoring.labels import INDUSTRY_LABELS, SHOP_LABELS

# column -> (where, key): the Chinese names a lead's spreadsheet has, as 生意参谋 and the back office word them
COLUMNS = {
    "行业纠纷率": ("industry", "dispute_rate"), "行业退款自主完结率": ("industry", "self_completion_rate"),
    "行业仅退款完结时长": ("industry", "refund_only_days"), "行业退货退款完结时长": ("industry", "return_refund_days"),
    "行业描述相符": ("industry", "dsr_description"), "行业服务态度": ("industry", "dsr_service"),
    "行业物流服务": ("industry", "dsr_logistics"),
    "支付订单数": ("shop", "paid_orders"), "描述相符": ("shop", "dsr_description"), "服务态度": ("shop", "dsr_service"),
    "物流服务": ("shop", "dsr_logistics"), "描述相符高于同行": ("shop", "dsr_description_vs_industry"),
    "服务态度高于同行": ("shop", "dsr_service_vs_industry"), "物流服务高于同行": ("shop", "dsr_logistics_vs_industry"),
}
SHOP_COLUMN, MONTH_COLUMN = "店铺", "月份"


class ValuesRefused(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class MonthValues:
    shop: Shop
    month: str
    industry: dict
    shop_figures: dict


def _column_names() -> dict[str, tuple[str, str]]:
    """Every header recognised, loosely normalised: the Chinese name, the label in either language, the key."""
    names = {}
    for header, (where, key) in COLUMNS.items():
        label = (INDUSTRY_LABELS if where == "industry" else SHOP_LABELS)[key]
        for variant in {header, f"{where}.{key}", *spreadsheets.label_variants(label)}:
            names[spreadsheets.normalise(variant)] = (where, key)
    return names


def read(data: bytes, filename: str) -> list[MonthValues]:
    try:
        table = spreadsheets.read_table(data, filename)
    except spreadsheets.ImportFileError as refused:
        raise ValuesRefused([str(refused.message)]) from None
    names = _column_names()
    headers = [spreadsheets.normalise(header) for header in table.headers]
    shop_at = next((i for i, h in enumerate(headers) if h in (spreadsheets.normalise(SHOP_COLUMN), "shop")), None)
    month_at = next((i for i, h in enumerate(headers) if h in (spreadsheets.normalise(MONTH_COLUMN), "month")), None)
    errors = []
    if shop_at is None or month_at is None:
        errors.append(_("The file needs the columns %(shop)s and %(month)s.", shop=SHOP_COLUMN, month=MONTH_COLUMN))
    figure_columns = {i: names[h] for i, h in enumerate(headers) if h in names}
    if not figure_columns:
        errors.append(_("The file has none of the figures' columns (such as %(example)s).", example="行业纠纷率"))
    if errors:
        raise ValuesRefused(errors)
    shops = {shop.name: shop for shop in db.session.scalars(sa.select(Shop))}
    found, seen = [], set()
    for number, cells in table.rows:
        def cell(index: int, cells=cells) -> str:
            return spreadsheets.cell_text(cells[index]) if index < len(cells) else ""

        shop, month = shops.get(cell(shop_at).strip()), cell(month_at).strip()
        if shop is None:
            errors.append(_("Row %(row)s: no shop is called %(name)s.", row=number, name=spreadsheets.quote(cell(shop_at))))
        if not MONTH.match(month):
            errors.append(_("Row %(row)s: the month must be written like 2026-10.", row=number))
        if shop is not None and (shop.id, month) in seen:
            errors.append(_("Row %(row)s: %(shop)s %(month)s is in the file twice.", row=number, shop=shop.name, month=month))
        values = {"industry": {}, "shop": {}}
        for index, (where, key) in figure_columns.items():
            raw = cell(index).strip()
            if not raw:
                continue
            try:
                values[where][key] = decimal_text(key, raw)
            except ValueError as problem:
                errors.append(_("Row %(row)s, column %(column)s: %(problem)s", row=number, column=table.headers[index],
                                problem=problem))
        if shop is not None and MONTH.match(month):
            seen.add((shop.id, month))
            found.append(MonthValues(shop, month, values["industry"], values["shop"]))
    if errors:
        raise ValuesRefused(errors)
    return found


def store(found: list[MonthValues], actor: User) -> None:
    """Every row's figures merged into its month; a published month refuses the whole file."""
    for item in found:
        score_month = months.month_for(item.shop, item.month, create=True)
        if score_month.state == "published":
            raise months.ScoringRefused(_("%(shop)s %(month)s is published: reopen it before importing its figures.",
                                          shop=item.shop.name, month=item.month))
        months.save_values(score_month, {**(score_month.industry or {}), **item.industry},
                           {**(score_month.shop_figures or {}), **item.shop_figures}, score_month.bonus_pool, actor)
