"""Import and export at the size limit: 20,000 rows planned, applied, planned again, exported.

Runs on a throwaway SQLite database (or DATABASE_URL's server when it names a scratch database).
Prints its figures; the last line is one JSON object with the numbers.

    .venv/bin/python bench/import_export.py [rows]
"""

from __future__ import annotations

import csv
import io
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

import spreadsheets  # noqa: E402
from app import create_app  # noqa: E402
from cases import exporting as case_export  # noqa: E402
from cases import importing as case_import  # noqa: E402
from cases import sla  # noqa: E402
from cases.board import CaseFilter, list_statement  # noqa: E402
from models import Shop, User, db, utcnow  # noqa: E402

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


def export_file(rows: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["订单号", "退款编号", "买家昵称", "售后类型", "店铺", "退款金额", "申请时间", "问题描述", "手机号"])
    for n in range(rows):
        writer.writerow([f"B{n:012d}", f"R{n:010d}", f"压测买家{n}", "仅退款", "压测店", "12.50", "2026/11/3 9:05",
                         "压测用的虚构说明：外箱压坏，机身有划痕。" * 2, "13800000000"])
    return buffer.getvalue().encode("utf-8-sig")


def main(rows: int) -> dict:
    folder = Path(tempfile.mkdtemp())
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.db'}"})
    figures = {"rows": rows}
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        db.session.add(Shop(platform="tmall", name="压测店"))
        db.session.add(User(username="bench", display_name="bench", role="lead", password_hash="-"))
        db.session.commit()
    data = export_file(rows)
    figures["file_bytes"] = len(data)
    with app.test_request_context():
        actor = db.session.scalar(sa.select(User))
        shops = db.session.scalars(sa.select(Shop)).all()
        started = time.perf_counter()
        table = spreadsheets.read_table(data, "bench.csv")
        figures["read_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        plan = case_import.plan_import(table, platform="tmall", shops=shops, now=utcnow())
        figures["plan_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        result = case_import.apply_import(plan, actor, sla.load_rules(), utcnow())
        db.session.commit()
        figures["apply_s"] = round(time.perf_counter() - started, 2)
        figures["created"] = len(result.created)
        started = time.perf_counter()
        again = case_import.plan_import(table, platform="tmall", shops=shops, now=utcnow())
        figures["replan_s"] = round(time.perf_counter() - started, 2)
        figures["unchanged_on_replan"] = again.counts["unchanged"]
        started = time.perf_counter()
        statement = list_statement(CaseFilter(), actor, utcnow()).execution_options(yield_per=500)
        cases = db.session.execute(statement).scalars()
        rows_out = case_export.export_rows(cases, case_export.ExportOptions(app.config["SHOP_TZ"]))
        size = sum(len(chunk) for chunk in spreadsheets.csv_chunks(rows_out))
        figures["export_csv_s"] = round(time.perf_counter() - started, 2)
        figures["export_csv_chars"] = size
    for key, value in figures.items():
        print(f"{key:>22}: {value}")
    return figures


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else spreadsheets.MAX_ROWS)))
