"""The platform's status carried through imports to the case (issue #14), through the real pages.

Two exports of the same refunds two hours apart: the statuses that changed move their cases and clocks as
the manual step would and land in the timeline; triage a person did in between stays; a difference between
the platform and a person is shown on the case, not settled silently; an unchanged re-import changes nothing,
also after someone saved a case through its edit form.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from app import create_app
from cases import flow, sla
from models import Case, TimelineEvent, db, record, utcnow
from platforms import statuses
from tests.cases.test_search import filler
from tests.conftest import MIGRATIONS, base_config, in_english, user_named
from tests.platforms import files
from tests.test_migrations import empty_database  # noqa: F401  (the fixture)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shop_time(moment) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def tmall_export(rows: list[dict]) -> bytes:
    """The newer Tmall refund export (no buyer column), GBK, with the numbers as ="…"."""
    return files.csv_file([files.TAOBAO_NEW] + [files.row_of(files.TAOBAO_NEW, row) for row in rows])


def refund(n: int, status: str, applied, deadline, **extra) -> dict:
    row = {"订单编号": files.excel_text(f"40123456789012345{n:02d}"), "退款编号": files.excel_text(f"1901234567890123{n:02d}"),
           "买家实际支付金额": "249.00", "买家退款金额": "249.00", "是否需要退货": "是", "退款的申请时间": shop_time(applied),
           "超时时间": shop_time(deadline), "退款状态": status, "买家退款原因": "七天无理由退换货"}
    row.update(extra)
    return row


def upload(client, data: bytes, platform: str = "tmall"):
    response = client.post_form("/cases/import/preview", {"file": (io.BytesIO(data), "export.csv"), "platform": platform,
                                                          "shop_id": "1"}, content_type="multipart/form-data")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def outcomes(html: str) -> list[str]:
    return re.findall(r'data-row="\d+" data-outcome="(\w+)"', html)


def confirm(client, html: str) -> str:
    token = re.search(r'name="token" value="([A-Za-z0-9_-]{32})"', html).group(1)
    response = client.post_form("/cases/import/confirm", {"token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client.get(response.headers["Location"]).get_data(as_text=True)


def case_of(n: int) -> Case:
    return db.session.scalar(sa.select(Case).where(Case.order_no == f"40123456789012345{n:02d}"))


def events_of(case_id: int, action: str) -> list[TimelineEvent]:
    return db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.subject_type == "case",
                                                             TimelineEvent.subject_id == case_id,
                                                             TimelineEvent.action == action)).all()


def test_two_exports_two_hours_apart(app, login_as):
    client = in_english(login_as("lead"))
    now = utcnow()
    applied, deadline, later = now - timedelta(hours=3), now + timedelta(days=2), now + timedelta(days=5)
    waiting = "买家已经申请退款，等待卖家同意"
    first = tmall_export([refund(n, waiting, applied, deadline) for n in range(1, 6)]
                         + [refund(6, "卖家已经同意退款，等待买家退货", applied, deadline)])
    html = upload(client, first)
    assert 'data-preset="taobao_refunds"' in html
    assert outcomes(html) == ["create"] * 6
    assert "6 created, 0 updated, 0 unchanged." in confirm(client, html)

    with app.test_request_context():
        rules = sla.load_rules()
        cases = {n: case_of(n) for n in range(1, 7)}
        assert cases[1].received_at == applied.replace(microsecond=0)  # the buyer's moment, not the import's
        assert cases[1].platform_status == statuses.WAITING_SELLER and cases[1].state == "new"
        assert cases[6].state == "waiting" and cases[6].waiting_for == "buyer"  # the shop agreed: the buyer acts
        assert rules.platform_clock(cases[1], now) is not None
        # meanwhile the team triages: case 2 by its category, priority and assignee; case 5 by its flag
        agent, lead = user_named("agent"), user_named("lead")
        flow.update_fields(cases[2], {"category": "fault_in_use", "priority": 0}, lead, rules, now)
        flow.assign(cases[2], agent, lead, rules, now)
        flow.set_flag(cases[5], "yellow", "待补发配件", lead)
        flow.change_state(cases[4], "resolved", lead, rules, now)  # case 4 a person already solved
        db.session.commit()

    second = tmall_export([
        refund(1, "退款成功", applied, deadline, 货物状态="买家已退货"),
        refund(2, "卖家拒绝退款", applied, later),
        refund(3, waiting, applied, deadline, 客服介入状态="客服已经介入"),
        refund(4, "卖家拒绝退款", applied, later),
        refund(5, waiting, applied, deadline, 商家备注="平台上的备注"),
        refund(6, "买家已经退货，等待卖家确认收货", applied, later),
    ])
    html = upload(client, second)
    assert outcomes(html) == ["update"] * 6
    assert "stays as a person set it" in html  # the preview says what it keeps
    assert "6 updated" in confirm(client, html) or "0 created, 6 updated" in client.get("/cases/").get_data(as_text=True)

    with app.test_request_context():
        rules = sla.load_rules()
        refunded, refused, intervened, solved, flagged, returned = (case_of(n) for n in range(1, 7))
        # refund succeeded: resolved, refund done, the platform's clock stopped; closing still needs its details
        assert refunded.state == "resolved" and refunded.refunded_at is not None
        assert refunded.platform_status == statuses.REFUNDED and refunded.platform_goods_status == "买家已退货"
        assert rules.platform_clock(refunded, utcnow()) is None
        assert refunded.next_due_at is None or refunded.next_due_at != refunded.platform_deadline_at
        # refused: waiting for the buyer, with the platform's new deadline; the triage of the person stays
        assert (refused.state, refused.waiting_for) == ("waiting", "buyer")
        assert refused.platform_deadline_at == later.replace(microsecond=0)
        assert (refused.category, refused.priority, refused.assignee.username) == ("fault_in_use", 0, "agent")
        # intervention: flagged red and counted as intervened
        assert intervened.platform_status == statuses.INTERVENING and intervened.flag == "red"
        assert intervened.platform_intervened
        # a case a person resolved is not moved back; the difference waits on the case
        assert solved.state == "resolved"
        assert [item["field"] for item in solved.platform_conflicts] == ["state"]
        # the person's flag note stays; the file's is a difference to settle
        assert (flagged.flag, flagged.flag_note) == ("yellow", "待补发配件")
        assert [(item["field"], item["platform"]) for item in flagged.platform_conflicts] == [("flag_note", "平台上的备注")]
        # the return is on its way: waiting for the warehouse
        assert (returned.state, returned.waiting_for) == ("waiting", "warehouse")
        sentences = [event.detail for event in events_of(refunded.id, "platform_status")]
        assert [detail["to"] for detail in sentences] == [statuses.WAITING_SELLER, statuses.REFUNDED]
        ids = {n: case_of(n).id for n in range(1, 7)}

    page = client.get(f"/cases/{ids[1]}").get_data(as_text=True)
    assert "Platform: Refund succeeded" in page and "买家已退货" in page
    board = client.get("/cases/").get_data(as_text=True)
    assert "platform-status-intervening" in board and 'class="tag conflict"' in board

    # the same file again changes nothing
    html = upload(client, second)
    assert outcomes(html) == ["unchanged"] * 6
    assert "Nothing to import" in html

    # the person settles the flag note: the platform's wins, and the difference is gone
    page = client.get(f"/cases/{ids[5]}").get_data(as_text=True)
    assert 'data-conflict="flag_note"' in page and "平台上的备注" in page
    with app.app_context():
        version = db.session.get(Case, ids[5]).version
    response = client.post_form(f"/cases/{ids[5]}/platform-conflict", {"field": "flag_note", "decision": "platform",
                                                                        "version": str(version)})
    assert response.status_code == 302
    with app.app_context():
        flagged = db.session.get(Case, ids[5])
        assert flagged.flag_note == "平台上的备注" and flagged.platform_conflicts == []
        assert events_of(flagged.id, "platform_conflict_settled")[0].detail["took_platform"] is True
    # and keeps the case's state where a person resolved it
    with app.app_context():
        version = db.session.get(Case, ids[4]).version
    client.post_form(f"/cases/{ids[4]}/platform-conflict", {"field": "state", "decision": "ours", "version": str(version)})
    with app.app_context():
        assert db.session.get(Case, ids[4]).platform_conflicts == []
        assert db.session.get(Case, ids[4]).state == "resolved"


def test_a_conflict_cannot_be_settled_from_a_stale_page_or_twice(app, login_as, make_case):
    client = in_english(login_as("agent"))
    case_id = make_case(platform_case_id="R-1")
    with app.app_context():
        case = db.session.get(Case, case_id)
        case.platform_conflicts = [{"field": "category", "platform": "logistics", "ours": case.category, "at": ""}]
        db.session.commit()
        version = case.version
    stale = client.post_form(f"/cases/{case_id}/platform-conflict", {"field": "category", "decision": "platform",
                                                                       "version": str(version - 1)})
    assert stale.status_code == 302
    with app.app_context():  # refused: someone changed the case since that page was drawn
        case = db.session.get(Case, case_id)
        assert case.category != "logistics" and len(case.platform_conflicts) == 1
    client.post_form(f"/cases/{case_id}/platform-conflict", {"field": "category", "decision": "platform",
                                                             "version": str(version)})
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.category == "logistics" and "category" in case.triaged  # a person's choice from now on
        again = client.post_form(f"/cases/{case_id}/platform-conflict", {"field": "category", "decision": "ours",
                                                                         "version": str(case.version)})
    assert again.status_code == 302
    assert "already settled" in client.get(again.headers["Location"]).get_data(as_text=True)
    bad = client.post_form(f"/cases/{case_id}/platform-conflict", {"field": "order_no", "decision": "ours", "version": "1"})
    assert bad.status_code in (302, 400)
    with app.app_context():
        assert db.session.get(Case, case_id).category == "logistics"


# --- the edit form keeps what an import compares ---------------------------------------------------------

class FormValues(HTMLParser):
    """The values a browser would send for a page's form with ``action``: inputs, selected options, textareas."""

    def __init__(self, action: str):
        super().__init__()
        self.action, self.inside, self.values, self.select, self.textarea = action, False, {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("action", self.action) == self.action  # no action: the page itself
        elif not self.inside:
            return
        elif tag == "input" and attrs.get("name") and attrs.get("type") not in ("submit", "checkbox"):
            self.values[attrs["name"]] = attrs.get("value", "")
        elif tag == "select":
            self.select = attrs.get("name")
        elif tag == "option" and self.select and "selected" in attrs:
            self.values[self.select] = attrs.get("value", "")
        elif tag == "textarea":
            self.textarea = attrs.get("name")
            self.values[self.textarea] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data):
        if self.textarea:
            self.values[self.textarea] += data


def test_saving_a_case_unchanged_then_reimporting_changes_nothing(app, login_as):
    client = in_english(login_as("lead"))
    now = utcnow()
    applied = (now - timedelta(hours=5)).replace(second=17)
    deadline = (now + timedelta(days=1)).replace(second=42)  # seconds the form used to drop
    export = tmall_export([refund(1, "买家已经申请退款，等待卖家同意", applied, deadline,
                                  买家退款说明="颜色不喜欢\n包装未拆", 商家备注="已联系")])
    html = upload(client, export)
    confirm(client, html)
    with app.app_context():
        case = case_of(1)
        case_id, updates_before = case.id, len(events_of(case.id, "updated"))
        assert case.summary == "七天无理由退换货：颜色不喜欢\n包装未拆"
    edit_url = f"/cases/{case_id}/edit"
    form = FormValues(edit_url)
    form.feed(client.get(edit_url).get_data(as_text=True))
    values = {name: value.replace("\n", "\r\n") for name, value in form.values.items()}  # browsers send CRLF
    assert "\r\n" in values["summary"]
    response = client.post_form(edit_url, values)
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.platform_deadline_at == deadline.replace(microsecond=0)
        assert case.summary == "七天无理由退换货：颜色不喜欢\n包装未拆"
        assert len(events_of(case_id, "updated")) == updates_before  # nothing changed, nothing recorded
    html = upload(client, export)
    assert outcomes(html) == ["unchanged"]


def test_a_deadline_typed_to_the_minute_still_saves_a_new_one(app, login_as, make_case):
    client = in_english(login_as("lead"))
    case_id = make_case()
    edit_url = f"/cases/{case_id}/edit"
    form = FormValues(edit_url)
    form.feed(client.get(edit_url).get_data(as_text=True))
    form.values["platform_deadline_at"] = "2030-01-02T03:04"
    assert client.post_form(edit_url, form.values).status_code == 302
    with app.app_context():
        saved = db.session.get(Case, case_id).platform_deadline_at.astimezone(SHANGHAI)
        assert (saved.year, saved.hour, saved.minute, saved.second) == (2030, 3, 4, 0)


# --- the migration ------------------------------------------------------------------------------------------

def test_the_migration_takes_triage_from_the_timeline_and_the_downgrade_keeps_the_cases(empty_database):  # noqa: F811
    app = create_app(base_config(empty_database))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0014_live_topics")
        with db.engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO shops (platform, name, active) VALUES ('tmall', '老店', true)"))
            shop_id = connection.execute(sa.text("SELECT id FROM shops")).scalar()
            columns = sa.inspect(connection).get_columns("cases")
            for n in range(3):
                row = {column["name"]: filler(column) for column in columns if not column["nullable"] and column["name"] != "id"}
                row.update(shop_id=shop_id, platform="tmall", order_no=f"OLD{n}", buyer_nick="老买家", kind="exchange",
                           state="new", category="other", duplicate_serial=0, summary=f"说明{n}")
                connection.execute(sa.text(f"INSERT INTO cases ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"),
                                   row)
            ids = dict(connection.execute(sa.text("SELECT order_no, id FROM cases")).all())
        with app.test_request_context():
            record(None, "case", ids["OLD0"], "created", via="form")       # typed by a person
            record(None, "case", ids["OLD1"], "created", via="import")
            record(None, "case", ids["OLD1"], "flagged", **{"from": [None, ""], "to": ["red", "x"]})
            record(None, "case", ids["OLD2"], "created", via="import")
            record(None, "case", ids["OLD2"], "updated", changes={"priority": [2, 0], "order_no": ["a", "b"]})
            db.session.commit()
        upgrade(directory=MIGRATIONS, revision="0015_platform_status")
        with app.app_context():
            triaged = {case.order_no: case.triaged for case in db.session.scalars(sa.select(Case))}
            assert triaged == {"OLD0": list(sorted(flow.TRIAGE_FIELDS)), "OLD1": ["flag", "flag_note"], "OLD2": ["priority"]}
            assert all(case.platform_conflicts == [] and case.platform_status_text == ""
                       for case in db.session.scalars(sa.select(Case)))
            db.session.remove()
        downgrade(directory=MIGRATIONS, revision="0014_live_topics")
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT summary FROM cases ORDER BY order_no")).scalars().all() == [
                "说明0", "说明1", "说明2"]
            assert "triaged" not in {column["name"] for column in sa.inspect(connection).get_columns("cases")}
        db.engine.dispose()


def test_a_case_without_a_buyer_name_needs_the_platforms_number(app, login_as, make_case):
    client = in_english(login_as("lead"))
    case_id = make_case(platform_case_id="DY-1")
    edit_url = f"/cases/{case_id}/edit"
    form = FormValues(edit_url)
    form.feed(client.get(edit_url).get_data(as_text=True))
    form.values["buyer_nick"] = ""
    assert client.post_form(edit_url, form.values).status_code == 302  # known by its platform number
    form.values.update(platform_case_id="", version=str(int(form.values["version"]) + 1))
    html = client.post_form(edit_url, form.values).get_data(as_text=True)
    assert "nickname, or the platform after-sales number." in html
    with app.app_context():
        assert db.session.get(Case, case_id).platform_case_id == "DY-1"
