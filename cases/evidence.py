"""Evidence the buyer sent: photos and short videos, checked by content, stored under instance/evidence/."""

from __future__ import annotations

import secrets
import unicodedata
from pathlib import Path, PurePosixPath

from flask import current_app
from flask_babel import lazy_gettext as _l

from models import Case, CaseEvidence, User, UserError, db

IMAGE_LIMIT = 10 * 1024 * 1024
VIDEO_LIMIT = 20 * 1024 * 1024
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
              "video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm"}


class EvidenceRefused(UserError):
    """The file is not a photo or video we keep."""


def sniff(head: bytes) -> str | None:
    """The real type from the first bytes; the name and the browser's claim are not trusted."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:10] == b"qt" else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return None


MAX_NAME = 200


def clean_name(name: str | None) -> str:
    """A file name safe to keep and to send in a header: no folders, no control or format characters, at most 200."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    kept = "".join(ch for ch in base if unicodedata.category(ch)[0] not in "CZ" or ch == " ").strip(" .")
    return kept[:MAX_NAME] or "file"


def save_upload(upload, prefix: str) -> dict:
    """Check a photo or video by its bytes and keep it under EVIDENCE_DIR; returns the columns a file row needs."""
    data = upload.read(VIDEO_LIMIT + 1)
    if not data:
        raise EvidenceRefused(_l("The file is empty."))
    content_type = sniff(data[:16])
    if content_type is None:
        raise EvidenceRefused(_l("Only photos (JPEG, PNG, GIF, WebP) and videos (MP4, MOV, WebM) are accepted."))
    limit = VIDEO_LIMIT if content_type.startswith("video/") else IMAGE_LIMIT
    if len(data) > limit:
        raise EvidenceRefused(_l("The file is larger than %(mb)s MB.", mb=limit // (1024 * 1024)))
    stored_name = f"{prefix}-{secrets.token_hex(12)}.{EXTENSIONS[content_type]}"
    path = path_for(stored_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"original_name": clean_name(upload.filename), "stored_name": stored_name, "content_type": content_type,
            "size_bytes": len(data)}


def store(case: Case, upload, actor: User) -> CaseEvidence:
    item = CaseEvidence(case_id=case.id, uploaded_by_id=actor.id, **save_upload(upload, str(case.id)))
    db.session.add(item)
    return item


def path_for(stored_name: str) -> Path:
    """Where a kept file lives: EVIDENCE_DIR, by default instance/evidence/."""
    folder = current_app.config.get("EVIDENCE_DIR") or Path(current_app.instance_path) / "evidence"
    return Path(folder) / stored_name


def path_of(item) -> Path:
    return path_for(item.stored_name)
