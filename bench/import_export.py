"""A Tmall/Taobao refund export at the import's row limit (#14): previewed, imported, changed, imported again, exported.

    .venv/bin/python bench/import_export.py [--rows 20000] [--small 2000] [--profile PHASE ...]

Builds the 千牛 refund export in its newer layout (42 columns, no buyer nick; GBK CSV, long numbers as ="…" or
after a tab, times with seconds) with fictitious texts, and runs on a throwaway SQLite database with the real
migrations, one shop chosen for the whole file (platform tmall), as the import screens do:

  preview         read_table + plan_import on an empty database (every row a create)
  import          apply_import + commit of that plan
  update_preview  the export two hours later: about 20 % of the refunds moved on (succeeded, refused, goods
                  returned, customer service stepped in) with a later 超时时间; the data differs, so no cache
                  hides the work
  update_import   apply_import + commit of that plan (the updates)
  replan          the second file again: every row unchanged
  export          every case through cases/exporting.py as the CSV export streams it

Each phase is timed (perf_counter) and its SQL statements counted (before_cursor_execute). The same phases
run on a fresh database at ``--small`` rows: equal statement counts mean none is issued per row. The five most
frequent statements of the import and export phases are printed. ``--profile PHASE`` (repeatable) runs that phase
of the big run under cProfile and prints the top 15 by cumulative time (its time is then inflated). The last line is one
JSON object with every figure; the exit status is 1 when a check fails.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import pstats
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

import spreadsheets  # noqa: E402
from app import create_app  # noqa: E402
from cases import exporting as case_export  # noqa: E402
from cases import importing as case_import  # noqa: E402
from cases import sla  # noqa: E402
from cases.board import CaseFilter  # noqa: E402
from models import Shop, User, db, utcnow  # noqa: E402

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")
TARGET_S = 10.0
PHASES = ("preview", "import", "update_preview", "update_import", "replan", "export")

HEADERS = (
    "订单编号", "退款编号", "支付宝交易号", "订单付款时间", "商品编码", "退款完结时间", "买家实际支付金额", "宝贝标题", "买家退款金额",
    "手工退款/系统退款", "是否需要退货", "退款的申请时间", "超时时间", "退款状态", "货物状态", "退货物流信息", "发货物流信息", "客服介入状态",
    "卖家真实姓名", "卖家真实姓名新", "卖家退货地址", "卖家邮编", "卖家电话", "卖家手机", "退货物流单号", "退货物流公司", "买家退款原因",
    "买家退款说明", "买家退货时间", "责任方", "售中或售后", "商家备注", "完结时间", "部分退款/全部退款", "审核操作人", "举证超时", "是否零秒响应",
    "退款操作人", "退款原因标签", "业务类型", "是否帮他退款", "帮他退款操作账号",
)
LONG_NUMBERS = ("订单编号", "退款编号", "支付宝交易号")

WAITING_SELLER = "买家已经申请退款，等待卖家同意"
WAITING_RETURN = "卖家已经同意退款，等待买家退货"
RETURN_SHIPPED = "买家已经退货，等待卖家确认收货"
REFUSED = "卖家拒绝退款"
SUCCEEDED = "退款成功"
NO_INTERVENTION = "不需客服介入"
INTERVENED = "客服已经介入"

# Fictitious goods and words: nothing here comes from a real shop or buyer.
PRODUCTS = ("压测款 静音空气净化器 家用卧室", "压测款 智能电热水壶 1.7L 保温", "压测款 便携榨汁杯 无线充电",
            "压测款 加湿器 大容量 上加水", "压测款 电动牙刷 声波 成人款", "压测款 折叠电风扇 桌面 USB")
PRICES = ("99.00", "149.00", "249.00", "399.00", "1299.00")
REASONS = ("七天无理由退换货", "商品与页面描述不符", "质量问题", "少件/漏发", "发错货", "不想要了", "包装/商品破损")
EXPLANATIONS = ("压测说明：收到后试用了一下，和预期不一样。", "压测说明：外箱有压痕，机身侧面有划痕", "压测说明：少了一个配件, 请核实",
                "", "压测说明：拍错颜色了，麻烦尽快处理。", "压测说明：通电后没有反应")
CARRIERS = ("压测快递", "测试速运")


def local_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def first_export(rows: int, exported_at: datetime, seed: int = 14) -> list[dict]:
    """The refunds as the back office lists them at ``exported_at`` (local time): header -> cell text."""
    rng = random.Random(seed)
    refunds = []
    for n in range(rows):
        applied = exported_at - timedelta(seconds=rng.randrange(300, 4 * 86400))
        paid = applied - timedelta(seconds=rng.randrange(3600, 20 * 86400))
        draw = rng.random()
        status = WAITING_SELLER if draw < 0.8 else WAITING_RETURN if draw < 0.95 else SUCCEEDED
        needs_return = status == WAITING_RETURN or rng.random() < 0.4
        price = rng.choice(PRICES)
        partial = rng.random() < 0.1
        received = needs_return or rng.random() < 0.5
        row = dict.fromkeys(HEADERS, "")
        row.update({
            "订单编号": str(3912000000000000000 + n * 37),
            "退款编号": str(2470000000000000000 + n * 53),
            "支付宝交易号": f"{paid:%Y%m%d}22001{rng.randrange(10**14, 10**15)}",
            "订单付款时间": local_text(paid),
            "商品编码": f"YC-{rng.randrange(1000, 9999)}",
            "买家实际支付金额": price,
            "宝贝标题": rng.choice(PRODUCTS),
            "买家退款金额": f"{float(price) / 2:.2f}" if partial else price,
            "是否需要退货": "是" if needs_return else "否",
            "退款的申请时间": local_text(applied),
            "超时时间": local_text(applied + timedelta(days=5 if status == WAITING_SELLER else 7)),
            "退款状态": status,
            "货物状态": "买家已收到货" if received else "买家未收到货",
            "发货物流信息": f"{rng.choice(CARRIERS)} YC{rng.randrange(10**11, 10**12)}",
            "客服介入状态": NO_INTERVENTION,
            "卖家真实姓名": "压测商贸",
            "买家退款原因": rng.choice(REASONS),
            "买家退款说明": rng.choice(EXPLANATIONS),
            "售中或售后": "售后" if received else "售中",
            "商家备注": "压测备注：已联系买家" if rng.random() < 0.05 else "",
            "部分退款/全部退款": "部分退款" if partial else "全部退款",
            "是否零秒响应": "否",
            "业务类型": "售后退款",
            "是否帮他退款": "否",
        })
        if status == WAITING_RETURN:
            row.update({"卖家退货地址": "压测省压测市测试路1号 售后组", "卖家邮编": "310000", "卖家手机": "13800000000"})
        if status == SUCCEEDED:
            finished = local_text(applied + timedelta(hours=rng.randrange(1, 24)))
            row.update({"退款完结时间": finished, "完结时间": finished, "手工退款/系统退款": "系统退款"})
        # two export tools' habits: most keep the digits with ="…", some with a leading tab
        row["_style"] = "tab" if n % 7 == 0 else "formula"
        refunds.append(row)
    return refunds


def later_export(refunds: list[dict], exported_at: datetime, share: float = 0.2, seed: int = 15) -> list[dict]:
    """The same refunds at ``exported_at``: about ``share`` of them moved on, with a later deadline."""
    rng = random.Random(seed)
    later = [dict(row) for row in refunds]
    for row in later:
        if row["退款状态"] == SUCCEEDED or rng.random() >= share / 0.95:  # 95 % of the rows are still open
            continue
        draw = rng.random()
        if row["退款状态"] == WAITING_RETURN:
            row["退款状态"] = RETURN_SHIPPED if draw < 0.7 else SUCCEEDED
            if row["退款状态"] == RETURN_SHIPPED:
                row.update({"货物状态": "买家已退货", "退货物流公司": rng.choice(CARRIERS),
                            "退货物流单号": f"YC{rng.randrange(10**11, 10**12)}", "买家退货时间": local_text(exported_at)})
        elif draw < 0.45:
            row["退款状态"] = SUCCEEDED
        elif draw < 0.8:
            row["退款状态"] = REFUSED
        else:
            row["退款状态"] = REFUSED  # the buyer escalated the refusal
            row["客服介入状态"] = INTERVENED
        if row["退款状态"] == SUCCEEDED:
            finished = local_text(exported_at - timedelta(minutes=rng.randrange(1, 110)))
            row.update({"退款完结时间": finished, "完结时间": finished, "手工退款/系统退款": "系统退款"})
        deadline = datetime.strptime(row["超时时间"], "%Y-%m-%d %H:%M:%S")
        row["超时时间"] = local_text(deadline + timedelta(days=rng.choice((3, 5, 7)), seconds=rng.randrange(3600)))
    return later


def _cell(row: dict, header: str) -> str:
    value = row[header]
    if header in LONG_NUMBERS:
        # written as the back office writes them, unquoted, so that Excel keeps every digit
        return f"\t{value}" if row["_style"] == "tab" else f'="{value}"'
    if any(char in value for char in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def export_file(refunds: list[dict]) -> bytes:
    lines = [",".join(HEADERS)] + [",".join(_cell(row, header) for header in HEADERS) for row in refunds]
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


# --- measuring ------------------------------------------------------------------------------------

_IN_LIST = re.compile(r"\((?:\s*(?:\?|%\(\w+\)s|__\[POSTCOMPILE_\w+\])\s*,?)+\)")
_NUMBER = re.compile(r"\b\d+\b")


def normalised(statement: str) -> str:
    """A statement without its lists of placeholders or numbers: the same query with other values counts once."""
    text = " ".join(statement.split())
    return _NUMBER.sub("N", _IN_LIST.sub("(?…)", text))


class Statements:
    """Counts the SQL statements sent to the database (an executemany counts once: one round trip)."""

    def __init__(self):
        self.seen = Counter()

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.seen[normalised(statement)] += 1

    @property
    def total(self) -> int:
        return sum(self.seen.values())


class Bench:
    def __init__(self, rows: int, profile: list[str]):
        self.rows, self.profile = rows, profile
        self.folder = Path(tempfile.mkdtemp(prefix="bench-import-"))
        self.app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{self.folder / 'bench.db'}"})
        self.zone: ZoneInfo = self.app.config["SHOP_TZ"]
        self.statements = Statements()
        self.figures: dict = {"rows": rows}
        self.top: dict[str, list] = {}
        self.profiles: dict[str, str] = {}
        with self.app.app_context():
            logging.disable(logging.INFO)  # alembic's one line per migration, twice per run
            upgrade(directory=MIGRATIONS)
            logging.disable(logging.NOTSET)
            db.session.add_all([Shop(platform="tmall", name="压测天猫店"), Shop(platform="jd_pop", name="压测京东店"),
                                User(username="bench", display_name="压测组长", role="lead", password_hash="-")])
            db.session.commit()
            sa.event.listen(db.engine, "before_cursor_execute", self.statements)

    def measure(self, phase: str, work):
        """Run ``work`` as the phase: its seconds and statements into the figures."""
        self.statements.seen.clear()
        profiler = cProfile.Profile() if phase in self.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = work()
        if profiler:
            profiler.disable()
        self.figures[f"{phase}_s"] = round(time.perf_counter() - started, 2)
        self.figures[f"{phase}_queries"] = self.statements.total
        self.top[phase] = self.statements.seen.most_common(5)
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(15)
            self.profiles[phase] = out.getvalue()
        return result

    def preview(self, phase: str, data: bytes, name: str):
        """What the preview view does: the shops, the file read with the export's header test, the plan."""
        def work():
            shops = db.session.scalars(sa.select(Shop)).all()
            # the upload limit is the deployment's IMPORT_MAX_BYTES; measured at this file's size (see run)
            table = spreadsheets.read_table(data, name, max_bytes=max(len(data), spreadsheets.MAX_BYTES),
                                            header_test=case_import.recognised_header)
            return case_import.plan_import(table, platform="tmall", shops=shops, now=self.now, zone=self.zone,
                                           default_shop_id=self.shop_id)
        plan = self.measure(phase, work)
        counts = plan.counts
        self.figures[f"{phase}_counts"] = counts
        self.figures[f"{phase}_preset"] = plan.preset.key if plan.preset else None
        return plan

    def apply(self, phase: str, plan, data: bytes):
        actor = db.session.scalar(sa.select(User).where(User.username == "bench"))

        def work():
            result = case_import.apply_import(plan, actor, sla.load_rules(), self.now,
                                              source={"sha256": "bench", "size": len(data)})
            db.session.commit()
            return result
        result = self.measure(phase, work)
        self.figures[f"{phase}_created"], self.figures[f"{phase}_updated"] = len(result.created), len(result.updated)

    def export(self):
        actor = db.session.scalar(sa.select(User).where(User.username == "bench"))

        def work():
            statement = case_export.export_statement(CaseFilter(), actor, self.now)
            cases = db.session.execute(statement).scalars()
            rows = case_export.export_rows(cases, case_export.ExportOptions(self.zone))
            return sum(len(chunk) for chunk in spreadsheets.csv_chunks(rows))
        self.figures["export_chars"] = self.measure("export", work)

    def run(self) -> dict:
        """Every phase, each in its own request as the screens do (the confirm plans and applies in one)."""
        second_at = utcnow().astimezone(self.zone).replace(tzinfo=None, microsecond=0)
        first_at = second_at - timedelta(hours=2)
        first = first_export(self.rows, first_at)
        data, data2 = export_file(first), export_file(later_export(first, second_at))
        self.figures.update(file_bytes=len(data), file2_bytes=len(data2))
        with self.app.test_request_context():
            self.shop_id = db.session.scalar(sa.select(Shop.id).where(Shop.platform == "tmall"))
        self.now = utcnow() - timedelta(hours=2)
        with self.app.test_request_context():
            plan = self.preview("preview", data, "refunds-1.csv")
            self.apply("import", plan, data)
        self.now = utcnow()
        with self.app.test_request_context():
            plan = self.preview("update_preview", data2, "refunds-2.csv")
            self.apply("update_import", plan, data2)
        with self.app.test_request_context():
            self.preview("replan", data2, "refunds-2.csv")
        with self.app.test_request_context():
            self.export()
        return self.figures

    def close(self):
        with self.app.app_context():
            db.engine.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)


def checks(figures: dict) -> list[str]:
    """What must hold for the figures to mean anything; the failures, in words."""
    failed = []
    rows, counts = figures["rows"], figures["preview_counts"]
    if figures["preview_preset"] is None or figures["update_preview_preset"] is None:
        failed.append("the file was not recognised as a Tmall/Taobao export (no preset)")
    if counts["refused"] or figures["update_preview_counts"]["refused"]:
        failed.append(f"refused rows: {counts['refused']} first, {figures['update_preview_counts']['refused']} second")
    if figures["import_created"] != rows:
        failed.append(f"the first import created {figures['import_created']} of {rows}")
    if figures["update_import_updated"] != figures["update_preview_counts"]["update"]:
        failed.append("the second import did not update what its preview said")
    replan = figures["replan_counts"]
    if replan["create"] or replan["update"] or replan["unchanged"] != rows:
        failed.append(f"the same file again is not all unchanged: {replan}")
    return failed


def report(big: dict, small: dict, top: dict, profiles: dict) -> dict:
    """The table and the figures; returns the JSON object."""
    mib = spreadsheets.MAX_BYTES / 1024 / 1024
    print(f"Tmall/Taobao refund export, 42 columns, GBK CSV: {big['rows']:,} rows, {big['file_bytes'] / 1024 / 1024:.2f} MiB "
          f"(second export {big['file2_bytes'] / 1024 / 1024:.2f} MiB); {small['rows']:,} rows, "
          f"{small['file_bytes'] / 1024 / 1024:.2f} MiB")
    if big["file_bytes"] > spreadsheets.MAX_BYTES:
        print(f"  NOTE: over the upload limit of {mib:.0f} MiB (spreadsheets.MAX_BYTES): the screen refuses this file "
              f"unless IMPORT_MAX_BYTES is raised; measured with the limit at the file's size")
    second = big["update_preview_counts"]
    print(f"  second export: {second['update']:,} updates, {second['unchanged']:,} unchanged; "
          f"same file again: {big['replan_counts']['create']} create, {big['replan_counts']['update']} update")
    print()
    print(f"{'phase':<16}{small['rows']:>8,} s{'queries':>9}{big['rows']:>9,} s{'queries':>9}  queries x  vs {TARGET_S:.0f} s")
    for phase in PHASES:
        ratio = big[f"{phase}_queries"] / max(small[f"{phase}_queries"], 1)
        verdict = "ok" if big[f"{phase}_s"] <= TARGET_S else "SLOW"
        print(f"{phase:<16}{small[f'{phase}_s']:>10.2f}{small[f'{phase}_queries']:>9,}{big[f'{phase}_s']:>11.2f}"
              f"{big[f'{phase}_queries']:>9,}  {ratio:>9.1f}  {verdict}")
    confirm = round(big["preview_s"] + big["import_s"], 2)
    print(f"{'preview+import':<16}{small['preview_s'] + small['import_s']:>10.2f}{'':>9}{confirm:>11.2f}{'':>9}  {'':>9}  "
          f"{'ok' if confirm <= TARGET_S else 'SLOW'}  (the confirm request reads, plans and applies)")
    for phase in ("import", "update_import", "export"):
        print(f"\nmost frequent statements, {phase} at {big['rows']:,} rows:")
        for statement, count in top[phase]:
            print(f"  {count:>7,}  {statement[:150]}")
    for phase, text in profiles.items():
        print(f"\ncProfile of {phase} (time inflated by the profiler), top 15 by cumulative time:\n{text}")
    failed = checks(big) + [f"{small['rows']} rows: {text}" for text in checks(small)]
    for text in failed:
        print(f"CHECK FAILED: {text}")
    figures = {key: value for key, value in big.items() if not key.endswith(("_counts", "_preset"))}
    figures.update(
        preset=big["preview_preset"], max_bytes=spreadsheets.MAX_BYTES, target_s=TARGET_S, preview_import_s=confirm,
        within_target=confirm <= TARGET_S, second_updates=second["update"], replan_unchanged=big["replan_counts"]["unchanged"],
        small={key: value for key, value in small.items() if key.endswith(("_s", "_queries")) or key in ("rows", "file_bytes")},
        queries_grow={phase: big[f"{phase}_queries"] != small[f"{phase}_queries"] for phase in PHASES},
        checks_failed=failed,
    )
    return figures


def measured(rows: int, profile: list[str]) -> tuple[dict, dict, dict]:
    bench = Bench(rows, profile)
    try:
        return bench.run(), bench.top, bench.profiles
    finally:
        bench.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=spreadsheets.MAX_ROWS)
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--profile", choices=PHASES, action="append", default=[], help="profile this phase of the big run")
    args = parser.parse_args()
    small, _, _ = measured(args.small, [])
    big, top, profiles = measured(args.rows, args.profile)
    figures = report(big, small, top, profiles)
    print(json.dumps(figures, ensure_ascii=False))
    return 1 if figures["checks_failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
