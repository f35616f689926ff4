"""The negative-review worklist (差评日清): the day's list and its figures, one review's page and its steps,
opening a case from a review, the lead's settings and reply templates, the end-of-day summary, the weekly
cause trend, and ``flask reviews suggest-causes``."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import click
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from wtforms.fields.choices import SelectChoice

import charts
import live
import spreadsheets
from blueprints.common import (
    action_answer,
    commit_or_refuse,
    first_error,
    get_or_404,
    page_number,
    permission_required,
    render_page,
)
from cases import flow as case_flow
from cases import labels as case_labels
from cases import sla
from forms.base import EmptyForm
from forms.cases import CaseForm
from forms.reviews import (
    AssignForm,
    CauseForm,
    ContactForm,
    FollowUpForm,
    HandleForm,
    TemplateForm,
    VersionOnlyForm,
    settings_form,
)
from live import HeaderCounter
from models import (
    PLATFORMS,
    Case,
    ReplyTemplate,
    Review,
    ReviewDay,
    ReviewSummary,
    Shop,
    SummaryDelivery,
    TimelineEvent,
    User,
    check_version,
    db,
    get_setting,
    latest_event_id,
    record,
    save_settings,
    utcnow,
)
from reviews import causes as cause_suggestion
from reviews import summary as review_summary
from reviews import worklist
from reviews.labels import CAUSE_CATEGORY, DEFAULT_WINDOW, DEFAULT_WINDOWS

bp = Blueprint("reviews", __name__, url_prefix="/reviews")

LIST_LIMIT = 100  # rows of a filter per page (a day's list is ~40); the figures always count them all
TREND_WEEKS = 8


def zone():
    return current_app.config["SHOP_TZ"]


def today() -> date:
    return worklist.shop_date(utcnow(), zone())


def chosen_day() -> date:
    """?day=YYYY-MM-DD within a year back, else today."""
    try:
        day = date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        return today()
    return day if today() - timedelta(days=366) <= day <= today() else today()


def worklist_day() -> date:
    """The list the worklist opens on: the chosen day; without one, today's list once it has formed, and
    before that (early in the morning) the latest list, whose leftovers are the work until then."""
    if request.args.get("day"):
        return chosen_day()
    latest = db.session.scalar(sa.select(sa.func.max(ReviewDay.day)).where(ReviewDay.day <= today()))
    return latest if latest is not None and latest >= today() - timedelta(days=7) else today()


def review_or_404(review_id: int) -> Review:
    return get_or_404(Review, review_id)


def answer(review: Review, message: str | None = None, error: str | None = None):
    return action_answer(url_for("reviews.detail", review_id=review.id), message, error, event="reviewChanged")


# --- the day's list -------------------------------------------------------------------------------------

def who_filter(statement, who: str):
    """Mine, nobody's, one reviewer's (an id), or everyone's ("all")."""
    if who == "mine":
        return statement.where(Review.assignee_id == current_user.id)
    if who == "nobody":
        return statement.where(Review.assignee_id.is_(None))
    if who.isdigit():
        return statement.where(Review.assignee_id == int(who))
    return statement


def list_statement(day: date, who: str, state: str, page: int = 1):
    statement = who_filter(sa.select(Review).options(so.joinedload(Review.assignee), so.joinedload(Review.case)), who)
    if state == "carried":  # earlier lists' reviews still open
        statement = statement.where(Review.list_date < day, Review.list_date >= day - timedelta(days=30),
                                    Review.state != "handled")
    else:
        statement = statement.where(Review.list_date == day)
        if state in ("todo", "contacted", "handled"):
            statement = statement.where(Review.state == state)
        elif state == "open":
            statement = statement.where(Review.state != "handled")
    state_rank = sa.case((Review.state == "todo", 0), (Review.state == "contacted", 1), else_=2)
    # one more than a page tells whether there is a next one
    return (statement.order_by(state_rank, Review.rating, Review.reviewed_at, Review.id)
            .offset((page - 1) * LIST_LIMIT).limit(LIST_LIMIT + 1))


@bp.route("/", endpoint="worklist")
@permission_required("use_workspace")
@live.region
def worklist_page():
    """The day's list with its clear rate and follow-up rate; refreshes itself like the board."""
    now, event_id, day = utcnow(), latest_event_id(), worklist_day()
    default_who = "all" if current_user.can("lead_reviews") or not current_user.can("work_reviews") else "mine"
    who = request.args.get("who", default_who)
    who = who if who in ("mine", "all", "nobody") or (who.isdigit() and len(who) < 19) else default_who
    state = request.args.get("state", "open")
    state = state if state in ("open", "todo", "contacted", "handled", "all", "carried") else "open"
    page = page_number()
    reviews = db.session.scalars(list_statement(day, who, state, page)).unique().all()
    more, reviews = len(reviews) > LIST_LIMIT, reviews[:LIST_LIMIT]
    figures = worklist.day_figures(day, zone())
    windows, percent = get_setting("review_windows") or {}, int(get_setting("at_risk_percent"))
    shown = {review.id: worklist.reply_window(review, now, windows, percent) for review in reviews}
    token = live.make_token(event_id, live.earliest(window.changes_at(now) for window in shown.values()))
    people = {user.id: user for user in db.session.scalars(sa.select(User).where(User.id.in_(
        [key for key in figures.by_reviewer if key is not None])))}
    carried = db.session.scalar(who_filter(sa.select(sa.func.count()).select_from(Review).where(
        Review.list_date < day, Review.list_date >= day - timedelta(days=30), Review.state != "handled"), who)) or 0
    return render_page("reviews/worklist.html", "reviews/_worklist_live.html", reviews=reviews, windows=shown,
                       figures=figures, people=people, day=day, today=today(), who=who, state=state, now=now,
                       token=token, poll_seconds=live.poll_seconds(), carried=carried, limit=LIST_LIMIT, page=page, more=more,
                       forms_at=worklist.list_forms_at(day, zone()), reviewers=worklist.reviewers(),
                       shops={shop.id: shop for shop in db.session.scalars(sa.select(Shop))})


@bp.route("/form-list", methods=["POST"])
@permission_required("lead_reviews")
def form_list():
    """Form today's list now (the scheduler does it at the list time; a lead need not wait)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    day = today()
    refusal = commit_or_refuse(lambda: worklist.form_list(day, utcnow(), zone(), current_user), lambda: "")
    if refusal is not None:
        flash(refusal, "info")
    else:
        flash(_("The list of %(day)s formed.", day=day.isoformat()), "success")
    return redirect(url_for("reviews.worklist"))


# --- one review -----------------------------------------------------------------------------------------

@bp.route("/<int:review_id>")
@permission_required("use_workspace")
@live.region
def detail(review_id):
    now, event_id = utcnow(), latest_event_id()
    review = review_or_404(review_id)
    window = worklist.reply_window(review, now)
    context = review_context(review, now, window)
    context["token"] = live.make_token(event_id, window.changes_at(now))
    return render_page("reviews/detail.html", "reviews/_detail_live.html", **context)


def reply_draft(review: Review) -> str:
    """The brand's opening line, the cause's template and the closing line."""
    template = db.session.get(ReplyTemplate, review.shown_cause)
    parts = [get_setting("review_reply_opening"), template.body if template else "", get_setting("review_reply_closing")]
    return "".join(part.strip() for part in parts if part and part.strip())


def review_context(review: Review, now: datetime, window) -> dict:
    contacts = worklist.contacts_of(review)
    matching = worklist.matching_cases(review)
    version = {"formdata": None, "version": review.version}
    forms = {
        "contact": ContactForm(prefix="contact", **version),
        "set_cause": CauseForm(prefix="set_cause", cause=review.shown_cause, **version),
        "follow_up": FollowUpForm(prefix="follow_up", **version),
        "handle": HandleForm(prefix="handle", reply=reply_draft(review), **version),
        "assign": AssignForm(prefix="assign", assignee_id=review.assignee_id or 0, **version),
        "reopen": VersionOnlyForm(prefix="reopen", **version),
    }
    forms["handle"].case_id.choices = [SelectChoice(0, _("(choose)"))] + [
        SelectChoice(case.id, f"{case.reference} · {case.order_no} · {case_labels.CASE_KINDS.get(case.kind, case.kind)}")
        for case in matching]
    return {
        "review": review, "now": now, "window": window, "contacts": contacts, "poll_seconds": live.poll_seconds(),
        "credited": next((contact for contact in contacts if contact.id == review.follow_up_contact_id), None),
        "history": db.session.scalars(TimelineEvent.for_subject("review", review.id).limit(200)).all(),
        "forms": forms, "forbidden": worklist.forbidden_in(review.reply_text) if review.reply_text else [],
    }


def shop_time(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=zone()) if value else None


def run_step(review_id: int, form, apply, message: str):
    """Validate, check the version the person saw, apply one rule, commit; refuse with a clear message."""
    review = review_or_404(review_id)
    if not form.validate_on_submit():
        return answer(review, error=first_error(form))

    def checked_apply():
        check_version(review, form.version.data)
        apply(review)

    refusal = commit_or_refuse(checked_apply, lambda: _("Someone else changed this review just before you; look at it again."))
    return answer(review, error=refusal) if refusal is not None else answer(review, message=message)


def may_work(review: Review) -> None:
    """A reviewer works the reviews shared out to them (or nobody's); a lead any review."""
    if not current_user.can("lead_reviews") and review.assignee_id not in (None, current_user.id):
        raise worklist.ReviewRefused(_l("This review is %(name)s's; ask a lead to move it to you.",
                                        name=review.assignee.display_name if review.assignee else ""))


def contact(review, form):
    may_work(review)
    worklist.record_contact(review, current_user, form.channel.data, form.outcome.data, form.note.data or "",
                            shop_time(form.contacted_at.data) or utcnow(), utcnow())


def handle(review, form):
    may_work(review)
    case = db.session.get(Case, form.case_id.data) if form.case_id.data else None
    worklist.handle(review, current_user, form.outcome.data, utcnow(), reply=form.reply.data or "", note=form.note.data or "",
                    case=case)


def assign(review, form):
    if not current_user.can("lead_reviews"):
        raise worklist.ReviewRefused(_l("Only a lead moves reviews between reviewers."))
    worklist.assign(review, db.session.get(User, form.assignee_id.data) if form.assignee_id.data else None, current_user)


def reopen(review, form):
    may_work(review)
    worklist.reopen(review, current_user)


# The steps on a review: endpoint -> (path, form, the rule applied with that form, the answer).
STEPS = {
    "contact": ("contact", ContactForm, _l("Contact recorded."), contact),
    "set_cause": ("cause", CauseForm, _l("Cause saved."), lambda review, form: worklist.set_cause(review, form.cause.data, current_user)),
    "follow_up": ("follow-up", FollowUpForm, _l("Follow-up review recorded."), lambda review, form: worklist.record_follow_up(
        review, form.text.data, shop_time(form.followed_up_at.data), current_user, utcnow())),
    "handle": ("handle", HandleForm, _l("Handled."), handle),
    "assign": ("assign", AssignForm, _l("Reviewer changed."), assign),
    "reopen": ("reopen", VersionOnlyForm, _l("Reopened."), reopen),
}


def step_view(form_class, message, apply):
    def view(review_id):
        form = form_class(prefix=request.endpoint.removeprefix("reviews."))
        if isinstance(form, HandleForm):
            form.case_id.choices = None  # any case id; the rule checks it is this order's
        return run_step(review_id, form, lambda review: apply(review, form), str(message))

    return view


for _endpoint, (_path, _form_class, _message, _apply) in STEPS.items():
    bp.add_url_rule(f"/<int:review_id>/{_path}", _endpoint,
                    permission_required("work_reviews")(step_view(_form_class, _message, _apply)), methods=["POST"])


# --- from a review to a case ----------------------------------------------------------------------------------

@bp.route("/<int:review_id>/case", methods=["GET", "POST"])
@permission_required("work_cases")
def new_case(review_id):
    """The case form, filled in from the review (platform and shop, order, buyer, category); saving links both."""
    review = review_or_404(review_id)
    if review.case_id is not None:
        flash(_("This review is linked to case %(ref)s already.", ref=review.case.reference), "info")
        return redirect(url_for("cases.detail", case_id=review.case_id))
    form = CaseForm()
    if request.method == "GET":
        form.shop_id.data, form.order_no.data, form.buyer_nick.data = review.shop_id, review.order_no, review.buyer_nick
        form.category.data = CAUSE_CATEGORY.get(review.shown_cause, "other")
        form.kind.data = "complaint"
        form.assignee_id.data = current_user.id
        form.summary.data = _("Review %(ref)s (%(rating)s stars): %(text)s", ref=review.reference, rating=review.rating,
                              text=review.text)[:500]
        form.order_amount.data = None
    if form.validate_on_submit():
        values = form.case_values(zone())
        created = []

        def open_case():
            check_version(review, request.form.get("review_version"))
            case = case_flow.create_case(values, current_user, sla.load_rules(), utcnow())
            db.session.flush()
            worklist.link_case(review, case, current_user)
            created.append(case)

        try:
            refusal = commit_or_refuse(open_case, lambda: _("Someone else changed this review just before you; look at it again."))
        except IntegrityError:
            db.session.rollback()
            refusal = _("A case for this order and kind exists already: link it from the review instead.")
        if refusal is None:
            flash(_("Case %(ref)s opened from review %(review)s.", ref=created[0].reference, review=review.reference), "success")
            return redirect(url_for("cases.detail", case_id=created[0].id))
        form.order_no.errors.append(refusal)
    return render_template("cases/form.html", form=form, case=None, review=review,
                           form_action=url_for("reviews.new_case", review_id=review.id))


# --- the lead's settings and templates ---------------------------------------------------------------------

def window_values() -> dict:
    values = {}
    for platform in PLATFORMS:
        rules = worklist.window_rules(platform)
        values.update({f"window_{platform}_chars": rules["max_chars"], f"window_{platform}_days": rules["days"],
                       f"window_{platform}_follow_up": rules["closes_at_follow_up"]})
    return values


@bp.route("/settings", methods=["GET", "POST"])
@permission_required("lead_reviews")
def settings():
    robots = get_setting("review_summary_robots") or []
    form = settings_form(
        list_time=get_setting("review_list_time"), summary_time=get_setting("review_summary_time"),
        assignment=get_setting("review_assignment"), reviewers=[int(each) for each in get_setting("review_reviewers") or []],
        causes="\n".join(worklist.causes()), opening=get_setting("review_reply_opening"),
        closing=get_setting("review_reply_closing"), emails="\n".join(get_setting("review_summary_emails") or []),
        cc="\n".join(get_setting("review_summary_cc") or []),
        robots="\n".join(f"{robot['kind']} {robot['url']}" for robot in robots), **window_values())
    if form.validate_on_submit():
        windows = {}
        for platform in PLATFORMS:
            chosen = {"max_chars": form[f"window_{platform}_chars"].data, "days": form[f"window_{platform}_days"].data,
                      "closes_at_follow_up": form[f"window_{platform}_follow_up"].data}
            if chosen != {**DEFAULT_WINDOW, **DEFAULT_WINDOWS.get(platform, {})}:
                windows[platform] = chosen
        causes = form.cause_list()
        save_settings({
            "review_list_time": form.list_time.data, "review_summary_time": form.summary_time.data,
            "review_assignment": form.assignment.data, "review_reviewers": form.reviewers.data or [],
            "review_causes": None if tuple(causes) == worklist.DEFAULT_CAUSES else causes,
            "review_reply_opening": (form.opening.data or "").strip(), "review_reply_closing": (form.closing.data or "").strip(),
            "review_summary_emails": form.email_list(form.emails), "review_summary_cc": form.email_list(form.cc),
            "review_summary_robots": form.robot_list(robots), "review_windows": windows,
        }, current_user)
        db.session.commit()
        flash(_("Review worklist settings saved."), "success")
        return redirect(url_for("reviews.settings"))
    return render_template("reviews/settings.html", form=form, platforms=PLATFORMS)


@bp.route("/templates", methods=["GET"])
@permission_required("lead_reviews")
def reply_templates():
    kept = {row.cause: row for row in db.session.scalars(sa.select(ReplyTemplate))}
    forms = {cause: TemplateForm(formdata=None, prefix=f"t{index}", body=kept[cause].body if cause in kept else "",
                                 version=kept[cause].version if cause in kept else "")
             for index, cause in enumerate(worklist.causes())}
    return render_template("reviews/templates.html", forms=forms, causes=worklist.causes())


@bp.route("/templates/<int:index>", methods=["POST"])
@permission_required("lead_reviews")
def save_template(index):
    causes = worklist.causes()
    if index >= len(causes):
        abort(404)
    cause = causes[index]
    form = TemplateForm(prefix=f"t{index}")
    back = url_for("reviews.reply_templates")
    if not form.validate_on_submit():
        return action_answer(back, error=first_error(form), event="reviewChanged")
    row = db.session.get(ReplyTemplate, cause)

    def save():
        nonlocal row
        if row is None:
            row = ReplyTemplate(cause=cause, body="")
            db.session.add(row)
        elif form.version.data:
            check_version(row, form.version.data)
        before = row.body
        row.body = (form.body.data or "").strip()
        if before != row.body:
            record(current_user, "reply_template", index, "updated", changes={"body": [before, row.body]}, cause=cause)

    refusal = commit_or_refuse(save, lambda: _("Someone else changed this template just before you; look at it again."))
    if refusal is not None:
        return action_answer(back, error=refusal, event="reviewChanged")
    return action_answer(back, _("Template for %(cause)s saved.", cause=cause), event="reviewChanged")


# --- the end-of-day summary and the weekly trend -----------------------------------------------------------------

@bp.route("/summary")
@permission_required("use_workspace")
def summary():
    """The day's summary as it stands (printable), the summaries kept with their deliveries, the send button."""
    day = chosen_day()
    figures = review_summary.compose(day, zone(), utcnow())
    kept = db.session.scalars(sa.select(ReviewSummary).options(so.selectinload(ReviewSummary.deliveries))
                              .order_by(ReviewSummary.id.desc()).limit(30)).all()
    return render_template("reviews/summary.html", figures=figures, day=day, today=today(), kept=kept)


@bp.route("/summary/<int:summary_id>")
@permission_required("use_workspace")
def kept_summary(summary_id):
    kept = get_or_404(ReviewSummary, summary_id)
    return render_template("reviews/summary.html", figures=kept.figures, day=kept.day, today=today(), kept=[kept],
                           showing=kept)


@bp.route("/summary.xlsx")
@permission_required("use_workspace")
def summary_xlsx():
    day = chosen_day()
    figures = review_summary.compose(day, zone(), utcnow())
    return spreadsheets.workbook_response(lambda handle: review_summary.write_xlsx(figures, handle),
                                          f"review-summary-{day:%Y%m%d}.xlsx")


@bp.route("/summary/send", methods=["POST"])
@permission_required("lead_reviews")
def send_summary():
    """Make today's summary now and send it; failed deliveries are retried by the scheduler and shown here."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    now = utcnow()
    kept = review_summary.create(today(), current_user, now, zone())
    db.session.commit()
    smtp = review_summary.smtp_settings(current_app.config)
    for delivery in kept.deliveries:
        review_summary.deliver(delivery, now, smtp)
    db.session.commit()
    failed = [delivery for delivery in kept.deliveries if delivery.status != "sent"]
    if not kept.deliveries:
        flash(_("Summary kept; no recipients are set, so nothing was sent (see the settings)."), "info")
    elif failed:
        flash(_("Summary kept; %(count)s of its deliveries failed and are retried (see below).", count=len(failed)), "error")
    else:
        flash(_("Summary sent and kept."), "success")
    return redirect(url_for("reviews.summary"))


@bp.route("/summary/deliveries/<int:delivery_id>/resend", methods=["POST"])
@permission_required("lead_reviews")
def resend(delivery_id):
    delivery = get_or_404(SummaryDelivery, delivery_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    now = utcnow()
    review_summary.resend(delivery, current_user, now)
    db.session.commit()
    review_summary.deliver(delivery, now, review_summary.smtp_settings(current_app.config))
    db.session.commit()
    flash(_("Sent.") if delivery.status == "sent" else _("Not sent: %(error)s", error=delivery.last_error),
          "success" if delivery.status == "sent" else "error")
    return redirect(url_for("reviews.summary"))


@bp.route("/trend")
@permission_required("use_workspace")
def trend():
    """Counts by cause per week over the last weeks, drawn as SVG on the server (no CDN, no script)."""
    mondays, counts = worklist.weekly_causes(today(), TREND_WEEKS, zone())
    chart = charts.line_chart([monday.strftime("%m-%d") for monday in mondays], counts)
    return render_template("reviews/trend.html", chart=chart, mondays=mondays, counts=counts)


# --- the header's number and the command line -----------------------------------------------------------------------

@live.header_counter(order=40)
def header_counter(user, now) -> HeaderCounter | None:
    """Reviews left on the list the worklist opens on, counted with the worklist's own statement (before, the
    header counted today's list while the page, early in the morning, opened on the latest one)."""
    if not user.can("work_reviews"):
        return None
    day = worklist_day()
    who = "all" if user.can("lead_reviews") else "mine"
    return HeaderCounter("reviews", _l("Reviews left today"), live.count_rows(list_statement(day, who, "open")),
                         url_for("reviews.worklist", day=day.isoformat(), who=who, state="open"), waiting=True)


@bp.cli.command("suggest-causes")
@click.argument("in_path", type=click.Path(exists=True, dir_okay=False))
@click.argument("out_path", type=click.Path(dir_okay=False, writable=True))
def suggest_causes(in_path, out_path):
    """Read a UTF-8 CSV with columns source_id,text; write source_id,cause (one of the default causes)."""
    try:
        count = cause_suggestion.suggest_csv(in_path, out_path)
    except (ValueError, KeyError, UnicodeDecodeError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{count} rows -> {out_path}")
