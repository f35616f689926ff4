"""What the search box ("q") finds, and the lookups that keep it fast at 100,000 cases.

A case is found by
- its order number or buyer nickname from their start, or its platform after-sales number exactly (as before);
- the buyer's full phone number, typed any way (+86, spaces, dashes): matched on ``Case.phone_digest``, a keyed
  digest of the normalised number, never on the clear number, so the page shows nothing a role that may not
  see numbers could not already type, and no LIKE over numbers can be probed digit by digit;
- its assignee's display name or username, from their start;
- words of its description (``Case.summary``): jieba's search-mode words are kept in ``case_terms``
  (primary key (term, case_id)); a query of several words finds the cases that have all of them.

Every part is an index lookup; none is a ``LIKE '%…%'``.

The digest key. A plain sha256 of a phone number is no secret: 10^11 numbers are tried in minutes. So the
digest is an HMAC with ``PHONE_DIGEST_KEY`` from the configuration, or, when that is not set, a key derived
from ``SECRET_KEY``. Changing the key (or ``SECRET_KEY`` without a ``PHONE_DIGEST_KEY``) makes stored
digests unfindable until ``rebuild_phone_digests`` runs (``flask cases search-rebuild``); set a dedicated
``PHONE_DIGEST_KEY`` to rotate ``SECRET_KEY`` freely.

How the index stays current: a ``before_flush`` listener sets the digest of every new case and of every case
whose number changed; an ``after_flush`` listener rewrites the words of every new case and of every case whose
description changed; a bulk ``session.execute(sa.insert(Case), rows)`` (demo data, benches) is completed by a
``do_orm_execute`` listener. The form, imports, demo data and sync all write through these, so no writer has
to remember. Migration 0011_case_search holds a copy of ``normalise_phone``, ``phone_digest_key`` and
``terms_of`` as they are today, for its back-fill.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading

import jieba
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app
from sqlalchemy import event

from models import PLATFORMS, Case, CaseTerm, User, db

TERM_MAX = 32  # case_terms.term is String(32); a longer run (a pasted URL) is cut, consistently on both sides
# Particles too common to narrow a search; left out of the index and of queries alike.
STOP_WORDS = frozenset("的 了 吗 呢 吧 啊 呀 是 在 和 与 也 就 都 又 还 很 被 把 给 我 你 他 她 它 们 这 那 有".split())
WORD = re.compile(r"[0-9a-z\u3400-\u9fff]", re.IGNORECASE)  # a token with none of these is punctuation or space
PHONE_QUERY = re.compile(r"^[0-9+\-\s().]+$")
PHONE_MIN_DIGITS = 7


# --- the phone number --------------------------------------------------------------------------

def normalise_phone(text: str | None) -> str | None:
    """The digits of a phone number without the country code (+86 / 0086); None for no number or a masked one."""
    if not text or "*" in text:
        return None
    digits = re.sub(r"\D", "", text)
    if len(digits) == 15 and digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits if PHONE_MIN_DIGITS <= len(digits) <= 15 else None


def phone_digest_key() -> bytes:
    """``PHONE_DIGEST_KEY``, or a key derived from ``SECRET_KEY`` (see the module's docstring)."""
    configured = current_app.config.get("PHONE_DIGEST_KEY")
    if configured:
        return configured.encode() if isinstance(configured, str) else configured
    return hashlib.sha256(b"phone-digest\x00" + str(current_app.config["SECRET_KEY"]).encode()).digest()


def phone_digest(text: str | None, key: bytes | None = None) -> str | None:
    digits = normalise_phone(text)
    if digits is None:
        return None
    return hmac.new(key or phone_digest_key(), digits.encode(), hashlib.sha256).hexdigest()


# --- the words of a description -------------------------------------------------------------

_jieba_ready = threading.Lock()
_jieba_initialised = False


def _segmenter():
    """jieba's default tokenizer, initialised once, quietly (reviews/causes.py keeps its own private one)."""
    global _jieba_initialised
    if not _jieba_initialised:
        with _jieba_ready:
            if not _jieba_initialised:
                logging.getLogger("jieba").setLevel(logging.WARNING)  # its "Building prefix dict…" chatter
                jieba.initialize()
                _jieba_initialised = True
    return jieba.dt


def _clean(tokens) -> list[str]:
    words = []
    for token in tokens:
        token = token.strip().lower()[:TERM_MAX]
        if token and token not in STOP_WORDS and WORD.search(token):
            words.append(token)
    return words


def terms_of(text: str | None) -> set[str]:
    """The words a description is found by: jieba's search mode (a long word and its shorter parts).

    Without jieba's HMM guesses: they depend on the neighbouring characters, so a word guessed in a description
    might be cut otherwise in a query. Dictionary words and single characters cut the same way everywhere."""
    if not text or not text.strip():
        return set()
    return set(_clean(_segmenter().cut_for_search(text, HMM=False)))


def query_words(q: str) -> set[str]:
    """The words a query needs, each typed word cut as precisely as jieba can (fewer, longer words)."""
    segmenter = _segmenter()
    return {word for part in q.split() for word in _clean(segmenter.cut(part, HMM=False))}


# --- the search condition --------------------------------------------------------------------

def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def prefix_match(column, text: str):
    """``column`` starts with ``text``, written so an index serves it.

    SQLite uses an index for LIKE only on a NOCASE column, so it gets the equivalent range (case-sensitive,
    as LIKE is on PostgreSQL); PostgreSQL gets LIKE (served by a btree under the C collation or with
    text_pattern_ops).
    """
    if db.session.get_bind().dialect.name == "sqlite":
        return sa.and_(column >= text, column < text + "\U0010ffff")
    return column.like(_escape_like(text) + "%", escape="\\")


def condition(q: str):
    """One SQL condition: the cases the search text ``q`` finds (already trimmed and cut to length).

    Written as ``id IN (one UNION of index lookups)`` rather than an OR of column tests: the database reads
    each small set from its index and fetches only those cases, where an OR made SQLite scan every case.
    """
    def ids(*where):
        return sa.select(Case.id).where(*where)

    # The platform number's unique index starts with the platform: naming every platform lets it seek.
    found = [ids(prefix_match(Case.order_no, q)), ids(prefix_match(Case.buyer_nick, q)),
             ids(Case.platform.in_(tuple(PLATFORMS)), Case.platform_case_id == q)]
    if PHONE_QUERY.match(q):
        digest = phone_digest(q)
        if digest is not None:
            found.append(ids(Case.phone_digest == digest))
    people = sa.select(User.id).where(sa.or_(prefix_match(User.display_name, q), prefix_match(User.username, q)))
    found.append(ids(Case.assignee_id.in_(people)))
    words = query_words(q)
    if words:
        each = [sa.select(CaseTerm.case_id).where(CaseTerm.term == word) for word in sorted(words)]
        if len(each) > 1:  # SQLite takes no compound inside a compound: the intersection as a subquery
            both = sa.intersect(*each).subquery()
            each = [sa.select(both.c.case_id)]
        found.append(each[0])
    return Case.id.in_(sa.union(*found))


# --- keeping the index current ------------------------------------------------------------------

def _write_terms(connection, cases: dict[int, str | None], replace: bool) -> None:
    """Store the words of each {case id: description}; ``replace`` drops what the cases had first."""
    if not cases:
        return
    if replace:
        connection.execute(sa.delete(CaseTerm.__table__).where(CaseTerm.__table__.c.case_id.in_(list(cases))))
    rows = [{"term": term, "case_id": case_id} for case_id, text in cases.items() for term in sorted(terms_of(text))]
    if rows:
        connection.execute(sa.insert(CaseTerm.__table__), rows)


def _changed(obj, name: str) -> bool:
    return sa.inspect(obj).attrs[name].history.has_changes()


@event.listens_for(so.Session, "before_flush")
def _digest_phones(session, flush_context, instances):
    new = session.new  # a fresh set on every access: read it once (an import flushes with thousands pending)
    for obj in list(new) + list(session.dirty):
        if isinstance(obj, Case) and (obj in new or _changed(obj, "buyer_phone")):
            digest = phone_digest(obj.buyer_phone)
            if obj.phone_digest != digest:
                obj.phone_digest = digest
    deleted = [obj.id for obj in session.deleted if isinstance(obj, Case) and obj.id is not None]
    if deleted:  # before the cases go: SQLite enforces no ON DELETE CASCADE unless told to
        session.connection().execute(sa.delete(CaseTerm.__table__).where(CaseTerm.__table__.c.case_id.in_(deleted)))


@event.listens_for(so.Session, "after_flush")
def _index_words(session, flush_context):
    pending = session.new  # read once: see _digest_phones
    new = {obj.id: obj.summary for obj in pending if isinstance(obj, Case)}
    edited = {obj.id: obj.summary for obj in session.dirty if isinstance(obj, Case) and obj not in pending
              and _changed(obj, "summary")}
    if new or edited:
        connection = session.connection()
        _write_terms(connection, new, replace=False)
        _write_terms(connection, edited, replace=True)


@event.listens_for(so.Session, "do_orm_execute")
def _index_bulk_statements(state):
    """A bulk INSERT of cases bypasses the flush: its rows get their digests, and their words once their ids
    are known. A bulk UPDATE of numbers or descriptions cannot be followed row by row, so it is refused."""
    if not (state.is_insert or state.is_update):
        return None
    table = getattr(state.statement, "table", None)
    if table is None or table.name != "cases":
        return None
    rows = state.parameters
    rows = [rows] if isinstance(rows, dict) else list(rows or [])
    if state.is_update:
        touched = {key if isinstance(key, str) else getattr(key, "key", str(key))
                   for row in rows for key in row} | {getattr(c, "key", str(c)) for c in getattr(state.statement, "_values", None) or {}}
        if touched & {"buyer_phone", "summary"}:
            raise NotImplementedError("change numbers and descriptions through the ORM, so cases/search.py sees them")
        return None
    if not rows:
        return None
    key = phone_digest_key()
    digests = [{"phone_digest": phone_digest(row.get("buyer_phone"), key)} for row in rows]
    statement = state.statement
    ours = not statement.returning_column_descriptions
    if ours:
        statement = statement.returning(Case.id, sort_by_parameter_order=True)
    result = state.invoke_statement(statement=statement, params=digests).freeze()
    returned = result().all()
    ids = [row._mapping.get("id") for row in returned] if returned else []
    if len(ids) != len(rows) or None in ids:
        raise NotImplementedError("a bulk insert of cases must return Case.id first, or nothing")
    _write_terms(state.session.connection(), {case_id: row.get("summary") for case_id, row in zip(ids, rows, strict=True)},
                 replace=False)
    return result()


# --- rebuilding -----------------------------------------------------------------------------------------

REBUILD_BATCH = 2000


def rebuild_phone_digests() -> int:
    """Every case's digest again, with the current key (after the key changed); returns how many changed."""
    key = phone_digest_key()
    changed = 0
    last = 0
    while True:
        batch = db.session.execute(sa.select(Case.id, Case.buyer_phone, Case.phone_digest).where(Case.id > last)
                                   .order_by(Case.id).limit(REBUILD_BATCH)).all()
        if not batch:
            return changed
        fresh = [(case_id, phone_digest(phone, key), old) for case_id, phone, old in batch]
        updates = [{"case_id": case_id, "digest": digest} for case_id, digest, old in fresh if digest != old]
        if updates:
            db.session.connection().execute(
                sa.update(Case.__table__).where(Case.__table__.c.id == sa.bindparam("case_id"))
                .values(phone_digest=sa.bindparam("digest")), updates)
            changed += len(updates)
        last = batch[-1][0]
