"""File imports (upload, preview, column mapping, confirm, template) of cases and reviews, and case export.

One set of thin views serves every area's import (``IMPORTERS``): each area brings its rules
(cases/importing.py, reviews/importing.py). The uploaded file waits under instance/imports/ between
the preview and the confirmation, which reads and plans it again: the data may have changed since.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from types import ModuleType

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

import spreadsheets
from blueprints.common import first_error, permission_required, render_page, safe_target
from cases import exporting as case_export
from cases import importing as case_import
from cases import sla
from cases.board import CaseFilter
from forms.imports import ConfirmForm, ForgetMappingForm, PhoneExportForm, UploadForm, mapping_form
from models import PLATFORMS, Case, ImportMapping, Shop, TimelineEvent, db, record, utcnow
from reviews import importing as review_import

bp = Blueprint("imports", __name__)

PREVIEW_ROW_LIMIT = 1000  # rows shown besides the refused ones, which are always all shown

# What the preview says the file is: (format, encoding as spreadsheets.read_table names it) -> words.
FILE_KIND_LABELS = {
    ("csv", "UTF-8"): _l("CSV (UTF-8)"),
    ("csv", "UTF-8 with BOM"): _l("CSV (UTF-8 with BOM)"),
    ("csv", "GB18030"): _l("CSV (GB18030)"),
    ("csv", "UTF-16"): _l("CSV (UTF-16)"),
    ("xlsx", None): _l("Excel (.xlsx)"),
}


@dataclass(frozen=True)
class Importer:
    """One area's file import: the same views (upload, preview, mapping, confirm, template) for each.

    ``module`` is the area's import rules (cases/importing.py, reviews/importing.py): FIELDS, REQUIRED,
    KEY_FIELDS, field_title, header_aliases, resolve_columns, plan_import, format_value, template_rows.
    """

    area: str
    module: ModuleType
    url_prefix: str
    endpoint_prefix: str
    permission: str
    done_endpoint: str
    title: object
    upload_title: object
    back_label: object
    nothing_to_do: object
    apply: Callable  # (plan, actor, now, source) -> result with created, updated, unchanged
    write_template_xlsx: Callable

    def endpoint(self, name: str) -> str:
        return f"imports.{self.endpoint_prefix}{name}"


def _write_review_template(handle) -> None:
    rows = review_import.template_rows()
    spreadsheets.write_xlsx(handle, rows[0], rows[1:], title="评价", widths=[16] * len(rows[0]))


IMPORTERS = {
    "cases": Importer(
        "cases", case_import, "/cases/import", "", "import_cases", "cases.board", _l("Import cases"),
        _l("Upload a marketplace after-sales export"), _l("Back to the case board"),
        _l("Nothing to import: every row matches a case exactly as it is."),
        lambda plan, actor, now, source: case_import.apply_import(plan, actor, sla.load_rules(), now, source=source),
        case_export.template_xlsx),
    "reviews": Importer(
        "reviews", review_import, "/reviews/import", "reviews_", "work_reviews", "reviews.worklist", _l("Import reviews"),
        _l("Upload a marketplace review export"), _l("Back to the review worklist"),
        _l("Nothing to import: every row matches a review exactly as it is."),
        lambda plan, actor, now, source: review_import.apply_import(plan, actor, now, zone=current_app.config["SHOP_TZ"],
                                                                    source=source),
        _write_review_template),
}


# --- helpers -----------------------------------------------------------------------------------

def upload_store() -> spreadsheets.UploadStore:
    folder = current_app.config.get("IMPORT_DIR") or os.path.join(current_app.instance_path, "imports")
    return spreadsheets.UploadStore(folder)


def limits() -> tuple[int, int]:
    return (current_app.config.get("IMPORT_MAX_BYTES", spreadsheets.MAX_BYTES),
            current_app.config.get("IMPORT_MAX_ROWS", spreadsheets.MAX_ROWS))


def saved_mapping(spec: Importer, platform: str) -> dict:
    row = db.session.get(ImportMapping, (spec.area, platform))
    return dict(row.mapping) if row is not None else {}


def read_file(spec: Importer, data: bytes, filename: str) -> spreadsheets.ImportTable:
    max_bytes, max_rows = limits()
    return spreadsheets.read_table(data, filename, max_bytes=max_bytes, max_rows=max_rows,
                                   header_test=getattr(spec.module, "recognised_header", None))


def make_plan(spec: Importer, table: spreadsheets.ImportTable, meta: dict):
    return spec.module.plan_import(
        table, platform=meta["platform"], shops=db.session.scalars(sa.select(Shop)).all(), now=utcnow(),
        zone=current_app.config["SHOP_TZ"], default_shop_id=meta.get("shop_id"), mapping=meta.get("mapping"),
    )


def mapping_deviations(spec: Importer, headers: list[str], chosen: dict) -> dict:
    """The choices that differ from what the known column names give: the part worth saving."""
    automatic = spec.module.resolve_columns(headers).header
    return {name: header for name, header in chosen.items() if header != automatic.get(name, "")}


def render_preview(spec: Importer, plan, token: str, meta: dict):
    store = upload_store()
    store.update(token, current_user.id, utcnow(), digest=spreadsheets.plan_digest(plan))
    shown = [row for row in plan.rows if row.action == spreadsheets.REFUSED]
    others = [row for row in plan.rows if row.action != spreadsheets.REFUSED]
    shown = sorted(shown + others[:PREVIEW_ROW_LIMIT], key=lambda row: row.number)
    shop = db.session.get(Shop, meta["shop_id"]) if meta.get("shop_id") else None
    form = mapping_form(plan.table.headers, spec.module, plan.columns.header, token=token)
    for name in plan.columns.missing:
        form[f"map_{name}"].errors = [_("Choose the column that holds this required field.")]
    return render_page(
        "imports/preview.html", "imports/_preview.html", importer=spec,
        plan=plan, rows=shown, hidden=len(plan.rows) - len(shown), meta=meta, shop=shop,
        platform_label=PLATFORMS.get(meta["platform"], meta["platform"]),
        mapping_form=form,
        confirm_form=ConfirmForm(formdata=None, token=token),
        fields=spec.module.FIELDS, key_fields=spec.module.KEY_FIELDS, field_title=spec.module.field_title,
        format_value=spec.module.format_value, action_labels=spreadsheets.ACTION_LABELS, zone=current_app.config["SHOP_TZ"],
        file_kind_labels=FILE_KIND_LABELS,
    )


def render_index(spec: Importer, form: UploadForm):
    platform = form.platform.data if form.platform.data in PLATFORMS else next(iter(PLATFORMS))
    events = db.session.scalars(
        sa.select(TimelineEvent).where(TimelineEvent.subject_type == "import", TimelineEvent.action == "imported")
        .order_by(TimelineEvent.id.desc()).limit(50)
    ).all()
    recent = [event for event in events if (event.detail or {}).get("area", "cases") == spec.area][:10]
    return render_page(
        "imports/index.html", "imports/_saved_mapping.html", importer=spec, form=form, platform=platform,
        platform_label=PLATFORMS[platform], saved=saved_mapping(spec, platform), recent=recent,
        aliases=spec.module.header_aliases(), field_title=spec.module.field_title, platforms=PLATFORMS,
        required=spec.module.REQUIRED, export_args={},
        presets=[str(preset.title) for preset in getattr(spec.module, "PRESETS", ())],
    )


def load_upload(spec: Importer, token: str):
    """(table, meta) of the current user's stored upload, read again; or None after flashing why."""
    try:
        data, meta = upload_store().load(token, current_user.id, utcnow())
        return read_file(spec, data, meta["filename"]), meta
    except spreadsheets.UploadNotFound:
        flash(_("This upload has expired or was already imported. Upload the file again."), "error")
    except spreadsheets.ImportFileError as error:
        flash(str(error.message), "error")
    return None


# --- import views (registered for each importer at the end of this section) ----------------------------

def index(spec: Importer):
    """The upload form; with ?platform= (the form's select, through htmx) the saved mapping of that platform."""
    max_bytes, max_rows = limits()
    form = UploadForm(formdata=None, max_bytes=max_bytes, max_rows=max_rows)
    if request.args.get("platform") in PLATFORMS:
        form.platform.data = request.args["platform"]
    return render_index(spec, form)


def preview(spec: Importer):
    max_bytes, max_rows = limits()
    form = UploadForm(max_bytes=max_bytes, max_rows=max_rows)
    if not form.validate_on_submit():
        return render_index(spec, form)
    data = form.file.data.read()
    filename = os.path.basename((form.file.data.filename or "").replace("\\", "/"))[:200]
    try:
        table = read_file(spec, data, filename)
    except spreadsheets.ImportFileError as error:
        form.file.errors.append(str(error.message))
        return render_index(spec, form)
    store, now = upload_store(), utcnow()
    store.purge(now)
    meta = {"filename": filename, "platform": form.platform.data, "shop_id": form.shop_id.data or None,
            "mapping": saved_mapping(spec, form.platform.data), "area": spec.area}
    token = store.save(data, current_user.id, now, **meta)
    return render_preview(spec, make_plan(spec, table, meta), token, meta)


def load_area_upload(spec: Importer, token: str):
    """The upload, if it was made for this importer (a case upload's token cannot confirm a review import)."""
    loaded = load_upload(spec, token)
    if loaded is not None and loaded[1].get("area", "cases") != spec.area:
        flash(_("This upload has expired or was already imported. Upload the file again."), "error")
        return None
    return loaded


def remap(spec: Importer):
    """The mapping editor: preview again with other columns, and optionally keep them for the platform."""
    loaded = load_area_upload(spec, request.form.get("token", ""))
    if loaded is None:
        return redirect(url_for(spec.endpoint("index")))
    table, meta = loaded
    form = mapping_form(table.headers, spec.module)
    if not form.validate_on_submit():
        abort(400)
    chosen = {name: form[f"map_{name}"].data or "" for name in spec.module.FIELDS}
    mapping = mapping_deviations(spec, table.headers, chosen)
    meta = upload_store().update(form.token.data, current_user.id, utcnow(), mapping=mapping)
    if form.save.data:
        row = db.session.get(ImportMapping, (spec.area, meta["platform"])) or ImportMapping(area=spec.area,
                                                                                             platform=meta["platform"])
        row.mapping = mapping
        db.session.add(row)
        record(current_user, "import", 0, "mapping_saved", area=spec.area, platform=meta["platform"], mapping=mapping)
        db.session.commit()
        flash(_("Column mapping saved for %(platform)s.", platform=PLATFORMS[meta["platform"]]), "success")
    return render_preview(spec, make_plan(spec, table, meta), form.token.data, meta)


def forget_mapping(spec: Importer):
    form = ForgetMappingForm()
    if not form.validate_on_submit():
        abort(400)
    row = db.session.get(ImportMapping, (spec.area, form.platform.data))
    if row is not None:
        db.session.delete(row)
        record(current_user, "import", 0, "mapping_forgotten", area=spec.area, platform=form.platform.data)
        db.session.commit()
    flash(_("%(platform)s exports are read with the standard column names again.",
            platform=PLATFORMS[form.platform.data]), "success")
    return redirect(url_for(spec.endpoint("index"), platform=form.platform.data))


def confirm(spec: Importer):
    """Read and plan the file again, then apply it all or nothing."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    token = form.token.data
    try:
        run = spreadsheets.claim_import(token, spec.area, current_user, "", utcnow())
    except spreadsheets.AlreadyClaimed as claimed:
        return already_imported(spec, claimed.run)
    loaded = load_area_upload(spec, token)
    if loaded is None:
        spreadsheets.release_import(run)
        return redirect(url_for(spec.endpoint("index")))
    table, meta = loaded
    plan = make_plan(spec, table, meta)
    if spreadsheets.plan_digest(plan) != meta.get("digest"):
        spreadsheets.release_import(run)
        flash(_("The data changed since the preview, so nothing was imported. Check the new preview."), "error")
        return render_preview(spec, plan, token, meta)
    if not plan.ready:
        spreadsheets.release_import(run)
        flash(_("Nothing was imported: the preview says why."), "error")
        return render_preview(spec, plan, token, meta)
    now = utcnow()
    try:
        result = spec.apply(plan, current_user, now, {"sha256": meta["sha256"], "size": meta["size"]})
        run.filename = meta["filename"]
        spreadsheets.finish_import(run, {"created": len(result.created), "updated": len(result.updated),
                                         "unchanged": result.unchanged}, now)
        db.session.commit()
    except (IntegrityError, StaleDataError):
        spreadsheets.release_import(run)
        flash(_("Someone changed the same records during the import, so nothing was imported. Check the new preview."),
              "error")
        return render_preview(spec, make_plan(spec, table, meta), token, meta)
    upload_store().delete(token)
    flash(_("%(created)s created, %(updated)s updated, %(unchanged)s unchanged.", created=len(result.created),
            updated=len(result.updated), unchanged=result.unchanged), "success")
    return redirect(url_for(spec.done_endpoint))


def already_imported(spec: Importer, run):
    """A second confirmation of one preview: say what happened to the first, import nothing."""
    who = run.user.display_name if run.user else ""
    if run.finished_at is None:
        flash(_("This file is being imported right now by %(name)s; it shows when it is done.", name=who), "info")
    else:
        flash(_("This file was imported already by %(name)s: %(created)s created, %(updated)s updated, "
                "%(unchanged)s unchanged. Nothing was imported again.", name=who,
                **{"created": 0, "updated": 0, "unchanged": 0, **run.result}), "info")
    return redirect(url_for(spec.done_endpoint))


def template_csv(spec: Importer):
    return spreadsheets.csv_response(spec.module.template_rows(), f"{spec.area}-import-template.csv")


def template_xlsx(spec: Importer):
    return spreadsheets.workbook_response(spec.write_template_xlsx, f"{spec.area}-import-template.xlsx")


# The import views: name -> (path, methods), registered once per importer ("imports.preview" for cases,
# "imports.reviews_preview" for reviews), each checking its importer's permission.
IMPORT_VIEWS = {
    "index": ("/", ["GET"], index),
    "preview": ("/preview", ["POST"], preview),
    "remap": ("/mapping", ["POST"], remap),
    "forget_mapping": ("/mapping/forget", ["POST"], forget_mapping),
    "confirm": ("/confirm", ["POST"], confirm),
    "template_csv": ("/template.csv", ["GET"], template_csv),
    "template_xlsx": ("/template.xlsx", ["GET"], template_xlsx),
}


def _bind(spec: Importer, view):
    @wraps(view)
    def bound():
        return view(spec)

    return bound


for _spec in IMPORTERS.values():
    for _name, (_path, _methods, _view) in IMPORT_VIEWS.items():
        bp.add_url_rule(_spec.url_prefix + _path, _spec.endpoint_prefix + _name,
                        permission_required(_spec.permission)(_bind(_spec, _view)), methods=_methods)


# --- export views ----------------------------------------------------------------------------------

def export_cases(file_format: str):
    """The cases of the board's filter, phones masked, for everyone who works cases.

    Full numbers only by POST (it is recorded, and a GET never writes), only with ``export_phones`` (403 for
    anyone else, whatever they post) and only with a reason typed by the person: the personal data log
    (/admin/personal-data) shows who exported how many numbers, when, why and with which filter.
    """
    now = utcnow()
    full_phones = request.method == "POST"
    if full_phones and not current_user.can("export_phones"):
        abort(403)
    case_filter = CaseFilter.from_args(request.form if full_phones else request.args)
    if full_phones:
        form = PhoneExportForm()
        if not form.validate_on_submit():
            flash(first_error(form), "error")
            return redirect(safe_target(request.form.get("back"), url_for("cases.board", **case_filter.to_args())))
        count = db.session.scalar(
            sa.select(sa.func.count()).select_from(Case)
            .where(*case_filter.where(current_user, now), Case.buyer_phone.is_not(None), Case.buyer_phone != "")
        )
        record(current_user, "export", 0, "phones_exported", count=count, format=file_format,
               filter=case_filter.to_args(), reason=form.reason.data)
        db.session.commit()
    zone = current_app.config["SHOP_TZ"]
    options = case_export.ExportOptions(zone, full_phones)
    header = case_export.column_titles(spreadsheets.speaks_chinese())
    statement = case_export.export_statement(case_filter, current_user, now)
    name = f"cases-{now.astimezone(zone):%Y%m%d-%H%M}.{file_format}"

    def rows():
        yield from case_export.export_rows(db.session.execute(statement).scalars(), options)

    if file_format == "csv":
        return spreadsheets.csv_response(itertools.chain([header], rows()), name)
    return spreadsheets.xlsx_response(header, rows(), name, title=_("Cases"), widths=case_export.export_widths())


@bp.route("/cases/export.csv", methods=["GET", "POST"])
@permission_required("work_cases")
def export_csv():
    return export_cases("csv")


@bp.route("/cases/export.xlsx", methods=["GET", "POST"])
@permission_required("work_cases")
def export_xlsx():
    return export_cases("xlsx")
