"""The handoff sheet in a real Chromium: two teams at once with no reload, routing a case, the end-of-shift
handoff, an outside party's secret link, accessibility at laptop and phone size."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from handoffs import flow
from models import Case, Handoff, Team, User, db, set_setting, utcnow
from tests.browser.conftest import axe_violations, format_violations, log_in
from tests.conftest import user_named

POLL_SECONDS = 2
LIVE = (3 * POLL_SECONDS + 2) * 1000  # a change made elsewhere shows within a few polls, or the test fails
LAPTOP, PHONE = {"width": 1366, "height": 768}, {"width": 390, "height": 844}


@pytest.fixture
def fast_polls(app):
    """Set before any page loads: the live regions render their poll interval into hx-trigger."""
    with app.app_context():
        set_setting("poll_seconds", POLL_SECONDS)
        db.session.commit()


@pytest.fixture
def person(new_context):
    """A page in a browser context of its own (its own cookies), logged in as ``username`` unless None.

    Each page is held to the Content-Security-Policy as the autouse fixture holds ``page``.
    """
    refused = []

    def open_page(username: str | None = None, viewport: dict | None = None):
        page = new_context().new_page()
        page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)
        if viewport:
            page.set_viewport_size(viewport)
        if username:
            log_in(page, username)
        return page

    yield open_page
    assert refused == [], f"a page broke its Content-Security-Policy: {refused[:3]}"


def mark_document(page) -> None:
    """Tag the loaded document; a reload or a navigation would lose the tag."""
    page.evaluate("window.__sameDocument = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded or navigated away"


def team_id(app, function: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Team.id).where(Team.function == function))


def owners(app, case_ids) -> set[str | None]:
    """Who owns the cases now, read from the database (None: nobody)."""
    with app.app_context():
        return set(db.session.scalars(sa.select(User.username).select_from(Case)
                                      .outerjoin(User, Case.assignee_id == User.id).where(Case.id.in_(case_ids))))


def raise_item(app, kind: str, raiser: str, owed: str, request: str, order_no: str) -> int:
    with app.test_request_context():
        owed_team = db.session.scalar(sa.select(Team).where(Team.function == owed))
        item = flow.raise_handoff(kind=kind, raiser=user_named(raiser), owed_team=owed_team, request=request,
                                  now=utcnow(), order_no=order_no)
        db.session.commit()
        return item.id


def shop_time_input(app, delta: timedelta) -> str:
    """A datetime-local value in the shop's zone, ``delta`` from now."""
    return (utcnow() + delta).astimezone(app.config["SHOP_TZ"]).strftime("%Y-%m-%dT%H:%M")


def make_link(page, handoff_id: int, party: str) -> str:
    """Through the item page's "Links for outside parties" form; the address is shown once, in #new-link."""
    page.goto(f"/handoffs/{handoff_id}")
    page.fill(f"#link-party-{handoff_id}", party)
    page.locator(f"form[action$='/handoffs/{handoff_id}/links'] button[type=submit]").click()
    link = page.locator("#new-link")
    expect(link).to_contain_text("/h/")
    return link.inner_text().strip()


def timeline_texts(page) -> list[str]:
    """The item page's timeline, oldest first (the page lists newest first)."""
    return [text.strip() for text in page.locator("#handoff-live .timeline > li").all_inner_texts()][::-1]


def test_presales_raises_aftersales_answers_and_presales_closes_live(app, fast_polls, person):
    presales, agent = person("presales"), person("agent")
    agent.goto("/handoffs/")
    expect(agent.locator("#handoff-inbox #owed-title .count")).to_have_text("0")
    mark_document(agent)

    presales.goto("/handoffs/new")
    presales.select_option("#kind", "warehouse")  # choosing a kind preselects the team it goes to
    expect(presales.locator("#owed_team_id")).to_have_value(str(team_id(app, "warehouse")))
    presales.select_option("#kind", "presales")
    expect(presales.locator("#owed_team_id")).to_have_value(str(team_id(app, "aftersales")))
    expect(presales.locator("#owed_team_id option:checked")).to_have_text("售后")
    presales.fill("#order_no", "TB-HAND-0001")
    presales.fill("#request", "买家要开增值税专票，另送一个收纳袋")
    presales.locator("form:has(#request) button[type=submit]").click()
    presales.wait_for_url(re.compile(r"/handoffs/\d+$"))
    handoff_id = int(presales.url.rsplit("/", 1)[1])
    expect(presales.locator("#handoff-live .state-badge")).to_have_class(re.compile(r"handoff-status-on_time"))
    mark_document(presales)

    # the aftersales agent's open inbox shows it, with no reload
    row = agent.locator(f"#handoff-inbox #owed-{handoff_id}")
    expect(row).to_contain_text("TB-HAND-0001", timeout=LIVE)
    expect(row).to_contain_text("买家要开增值税专票")
    expect(agent.locator("#handoff-inbox #owed-title .count")).to_have_text("1")
    assert_not_reloaded(agent)

    row.locator(f"a[href$='/handoffs/{handoff_id}']").click()
    agent.wait_for_url(f"**/handoffs/{handoff_id}")
    badge = agent.locator("#handoff-live .state-badge")
    agent.fill(f"#expected-{handoff_id}", shop_time_input(app, timedelta(hours=5)))
    agent.locator(f"form[action$='/{handoff_id}/acknowledge'] button[type=submit]").click()
    expect(agent.locator(f"#expected-{handoff_id}")).to_have_count(0)  # the step is taken: its form is gone
    expect(badge).to_contain_text("已确认")
    expect(presales.locator("#handoff-live .state-badge")).to_contain_text("已确认", timeout=LIVE)

    agent.fill(f"#follow-up-{handoff_id}", "专票信息已转财务，收纳袋已备好")
    agent.locator(f"form[action$='/{handoff_id}/follow-up'] button[type=submit]").click()
    expect(agent.locator("#handoff-live .timeline")).to_contain_text("专票信息已转财务")
    expect(presales.locator("#handoff-live .timeline")).to_contain_text("专票信息已转财务", timeout=LIVE)

    agent.fill(f"#done-note-{handoff_id}", "专票已开，收纳袋随单寄出")
    agent.locator(f"form[action$='/{handoff_id}/done'] button[type=submit]").click()
    expect(badge).to_have_class(re.compile(r"handoff-status-waiting"))

    # presales sees it done without a reload, and confirms it closed
    presales_badge = presales.locator("#handoff-live .state-badge")
    expect(presales_badge).to_have_class(re.compile(r"handoff-status-waiting"), timeout=LIVE)
    expect(presales.locator("#handoff-live .facts")).to_contain_text("专票已开，收纳袋随单寄出")
    assert_not_reloaded(presales)
    presales.locator(f"form[action$='/{handoff_id}/close'] button[type=submit]").click()
    expect(presales_badge).to_have_class(re.compile(r"handoff-status-closed"))
    expect(presales_badge).to_contain_text("已关闭")
    expect(presales.locator("#handoff-steps-title")).to_have_count(0)  # nothing left to do on a closed item
    assert_not_reloaded(presales)

    steps = timeline_texts(presales)
    expected = ["买家要开增值税专票，另送一个收纳袋", "预计", "专票信息已转财务，收纳袋已备好", "专票已开，收纳袋随单寄出", "已确认并关闭"]
    positions = [next((i for i, text in enumerate(steps) if needle in text), None) for needle in expected]
    assert None not in positions and positions == sorted(positions), steps
    expect(agent.locator("#handoff-live .state-badge")).to_have_class(re.compile(r"handoff-status-closed"), timeout=LIVE)
    with app.app_context():
        item = db.session.get(Handoff, handoff_id)
        assert (item.state, item.kind, item.owed_team.function, item.acknowledged_by) == ("closed", "presales", "aftersales", "agent name")


def test_routing_a_case_reaches_the_warehouse_inbox_and_counter_live(app, fast_polls, make_case, person):
    case_id = make_case(order_no="TB-ROUTE-0001", assignee="agent")
    warehouse = person("warehouse")
    warehouse.goto("/handoffs/")
    counter = warehouse.locator("#header-counters [data-counter=handoffs] .counter-value")
    expect(counter).to_have_text("0")
    mark_document(warehouse)

    agent = person("agent")
    agent.goto(f"/cases/{case_id}")
    agent.select_option(f"#route-team-{case_id}", label="仓库")
    agent.fill(f"#route-request-{case_id}", "请确认退货包裹是否已入库")
    agent.locator(f"form[action$='/handoffs/route/{case_id}'] button[type=submit]").click()
    expect(agent.locator("#flash")).to_contain_text("仓库")
    expect(agent.locator(f"#route-request-{case_id}")).to_have_value("")
    expect(agent.locator("#case-handoffs-title + ul")).to_contain_text("仓库")

    row = warehouse.locator("#handoff-inbox .handoff-row", has_text="请确认退货包裹是否已入库")
    expect(row).to_be_visible(timeout=LIVE)
    expect(row).to_contain_text("TB-ROUTE-0001")
    expect(counter).to_have_text("1", timeout=LIVE)
    assert_not_reloaded(warehouse)
    with app.app_context():
        item = db.session.scalar(sa.select(Handoff).where(Handoff.case_id == case_id))
        assert (item.kind, item.owed_team.function, item.state) == ("warehouse", "warehouse", "open")


def test_shift_handoff_moves_the_cases_only_when_accepted(app, fast_polls, make_case, person):
    case_ids = [make_case(assignee="agent", order_no=f"TB-SHIFT-{n}") for n in (1, 2, 3)]
    notes = {case_id: f"买家约好明早十点回电（工单{case_id}）" for case_id in case_ids}
    agent = person("agent")
    agent.goto("/handoffs/shift")
    agent.select_option("#receiver_id", label="agent2 name")
    for case_id, note in notes.items():
        agent.fill(f"#note-{case_id}", note)
    agent.locator("form:has(#receiver_id) button[type=submit]").click()
    agent.wait_for_url(re.compile(r"/handoffs/\d+$"))
    handoff_id = int(agent.url.rsplit("/", 1)[1])
    handed = agent.locator("#shift-cases-title + ul > li")
    expect(handed).to_have_count(3)
    for note in notes.values():
        expect(handed.filter(has_text=note)).to_contain_text("agent name")

    # nothing moves before the colleague accepts
    assert owners(app, case_ids) == {"agent"}
    agent2 = person("agent2")
    agent2.goto("/handoffs/")
    owed_to_me = agent2.locator(f"#handoff-inbox section[aria-labelledby=owed-title] #owed-{handoff_id}")
    expect(owed_to_me).to_contain_text("agent name")
    owed_to_me.locator(f"a[href$='/handoffs/{handoff_id}']").click()
    agent2.wait_for_url(f"**/handoffs/{handoff_id}")
    assert owners(app, case_ids) == {"agent"}
    agent2.locator(f"form[action$='/{handoff_id}/accept'] button[type=submit]").click()
    expect(agent2.locator("#handoff-live .state-badge")).to_have_class(re.compile(r"handoff-status-closed"))
    expect(agent2.locator("#shift-cases-title + ul > li", has_text="agent2 name")).to_have_count(3)
    assert owners(app, case_ids) == {"agent2"}
    # the giver's page follows without a reload
    expect(agent.locator("#shift-cases-title + ul > li", has_text="agent2 name")).to_have_count(3, timeout=LIVE)

    for case_id, note in notes.items():
        agent2.goto(f"/cases/{case_id}")
        expect(agent2.locator(".timeline")).to_contain_text(note)


def sideways_overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def assert_accessible_and_fits(page, what: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{what}: {format_violations(violations)}"
    overflow = sideways_overflow(page)
    assert overflow <= 0, f"{what} scrolls sideways by {overflow}px"


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_handoff_pages_pass_axe_and_fit(app, make_case, page, person, viewport):
    owed_id = raise_item(app, "presales", "presales", "aftersales", "买家要开专票，抬头见备注", "TB-AXE-1")
    raise_item(app, "warehouse", "agent", "warehouse", "请确认退货已入库", "TB-AXE-2")
    make_case(assignee="agent", order_no="TB-AXE-3")
    page.set_viewport_size(viewport)
    log_in(page, "agent")  # owes the first item, raised the second, owns a case: every form and table shows
    for path in ("/handoffs/", "/handoffs/new", f"/handoffs/{owed_id}", "/handoffs/shift"):
        page.goto(path)
        assert_accessible_and_fits(page, path)

    url = make_link(page, owed_id, "安装师傅 李四")
    assert_accessible_and_fits(page, "the item page showing a new link")
    outsider = person(None, viewport)
    outsider.goto(url)
    expect(outsider.locator("h1")).to_contain_text(f"H{owed_id}")
    assert_accessible_and_fits(outsider, "the public link page")


def test_a_new_link_fits_a_phone(app, page):
    owed_id = raise_item(app, "presales", "presales", "aftersales", "买家要开专票", "TB-FIT-1")
    page.set_viewport_size(PHONE)
    log_in(page, "agent")
    url = make_link(page, owed_id, "安装师傅 李四")
    # A random token may hold a '-' where the line can break; about half do not. Show one that does not.
    page.locator("#new-link").evaluate("(el, url) => { el.textContent = url; }", re.sub(r"[-_]", "x", url))
    overflow = sideways_overflow(page)
    assert overflow <= 0, f"the item page showing a new link scrolls sideways by {overflow}px"


def test_an_outside_party_answers_through_the_link(app, person):
    handoff_id = raise_item(app, "warehouse", "agent", "warehouse", "外包仓请确认退货已签收并拍照", "TB-LINK-0001")
    agent = person("agent")
    url = make_link(agent, handoff_id, "外包仓 王五")

    outsider = person()  # no account, no session
    with outsider.expect_response(lambda response: response.url.endswith("/opened")) as opened:
        outsider.goto(url)  # the page posts that it was opened; the timeline records it once
    assert opened.value.status == 204
    expect(outsider.locator("h1")).to_contain_text(f"H{handoff_id}")
    expect(outsider.locator("main")).to_contain_text("外包仓请确认退货已签收并拍照")
    expect(outsider.locator("nav.areas")).to_have_count(0)  # nothing of the app beyond this one item
    outsider.fill("#public-expected", shop_time_input(app, timedelta(hours=3)))
    with outsider.expect_navigation():
        outsider.locator("form[action$='/acknowledge'] button[type=submit]").click()
    expect(outsider.locator("#public-expected")).to_have_count(0)
    expect(outsider.locator(".facts")).to_contain_text("外包仓 王五")

    outsider.fill("#public-follow-up", "包裹已到，外箱有压痕")
    with outsider.expect_navigation():
        outsider.locator("form[action$='/follow-up'] button[type=submit]").click()
    expect(outsider.locator("#public-follow-up")).to_have_value("")
    outsider.fill("#public-done", "已签收入库，照片已发群里")
    with outsider.expect_navigation():
        outsider.locator("form[action$='/done'] button[type=submit]").click()
    expect(outsider.locator("#public-steps-title")).to_have_count(0)  # done: nothing left to answer
    expect(outsider.locator(".facts")).to_contain_text("已签收入库，照片已发群里")

    lead = person("lead")
    lead.goto(f"/handoffs/{handoff_id}")
    expect(lead.locator("#handoff-live .state-badge")).to_have_class(re.compile(r"handoff-status-waiting"))
    steps = timeline_texts(lead)
    for needle in ("外包仓 王五 打开了链接", "预计", "包裹已到，外箱有压痕", "已签收入库，照片已发群里"):
        assert any(needle in text for text in steps), (needle, steps)
    by_link = [text for text in steps if "外包仓 王五" in text and "通过链接" in text]
    assert len(by_link) == 3, steps  # acknowledged, followed up, done: each says who, through the link
    with app.app_context():
        item = db.session.get(Handoff, handoff_id)
        assert (item.state, item.acknowledged_by, item.done_note) == ("done", "外包仓 王五", "已签收入库，照片已发群里")
