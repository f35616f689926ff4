"""What the demo's fake platforms do by themselves, so a new user sees cases and reviews arrive with no account.

``make run`` starts ``flask sync fake-platforms``: one fake per platform on loopback, each for one demo shop
(DEMO_SHOPS), and this driver. Every few tens of seconds one of them gets a new after-sales request, moves an
open one a step along its ordinary flow, or gets a new review; the app's scheduler syncs them like real ones.
"""

from __future__ import annotations

import itertools
import random
import threading
import time

from sync.fakes.base import FakePlatform
from sync.fakes.douyin import FakeDouyin
from sync.fakes.jd import FakeJd
from sync.fakes.taobao import FakeTaobao

# family -> (the demo shop's name in the app, the shop as its platform names it)
DEMO_SHOPS = {"taobao": ("天猫旗舰店", "天猫旗舰店"), "jd": ("京东POP店", "10086"), "douyin": ("抖音小店", "4463798")}

# Where each fake keeps a record's status, and the field its change_after_sale takes it in.
_STATUS = {
    "taobao": (lambda record: str(record.get("status")), "status"),
    "jd": (lambda record: str(record.get("serviceStatus", record.get("status"))), "status"),
    "douyin": (lambda record: str(record.get("aftersale_info", {}).get("aftersale_status")), "aftersale_status"),
}


def demo_fakes() -> list[FakePlatform]:
    """The three fakes of the demo shops. Their ids start from the clock, so a restarted fake makes new ones."""
    fakes = [FakeTaobao(shop_ref=DEMO_SHOPS["taobao"][1]), FakeJd(shop_ref=DEMO_SHOPS["jd"][1]),
             FakeDouyin(shop_ref=DEMO_SHOPS["douyin"][1])]
    start = int(time.time()) % 100_000_000 * 10
    for fake in fakes:
        fake.serial = itertools.count(start)
    return fakes


class DemoActivity:
    """A thread that makes each fake platform busy like a small shop's day, sped up."""

    def __init__(self, fakes: list[FakePlatform], every: float = 40.0, seed: int | None = None):
        self.fakes, self.every = fakes, every
        self.random = random.Random(seed)
        self.stop = threading.Event()

    def seed(self) -> None:
        """A few requests and reviews from before the app first looked."""
        for fake in self.fakes:
            for _ in range(3):
                fake.new_after_sale()
            fake.new_review()

    def step(self) -> str:
        """One thing happens on one platform; returns what, for the log."""
        fake = self.random.choice(self.fakes)
        roll = self.random.random()
        if roll < 0.45:
            record = fake.new_after_sale()
            return f"{fake.family}: new after-sales request {self._id(fake, record)}"
        if roll < 0.85:
            moved = self.advance(fake)
            if moved:
                return f"{fake.family}: {moved}"
        fake.new_review()
        return f"{fake.family}: new review"

    def advance(self, fake: FakePlatform) -> str | None:
        """Move a random open request one step along the platform's ordinary flow."""
        status_of, field = _STATUS[fake.family]
        with fake.lock:
            open_ids = [record_id for record_id, (_moment, record) in fake.records["cases"].items()
                        if status_of(record) in fake.FLOW[:-1]]
        if not open_ids:
            return None
        record_id = self.random.choice(open_ids)
        current = status_of(fake.get("cases", record_id))
        following = fake.FLOW[fake.FLOW.index(current) + 1]
        fake.change_after_sale(record_id, **{field: following})
        return f"{record_id} {current} -> {following}"

    def run(self, log=print) -> None:
        while not self.stop.wait(self.random.uniform(self.every * 0.5, self.every * 1.5)):
            log(self.step())

    @staticmethod
    def _id(fake: FakePlatform, record: dict) -> str:
        with fake.lock:
            return next((record_id for record_id, (_moment, stored) in fake.records["cases"].items() if stored is record), "?")
