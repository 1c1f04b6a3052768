"""Pairing persistence: one file per paired account under ``WA_DATA_DIR/sessions/`` (default ``.run/bridge-data``).

A paired account has ``<account>.json`` (``{"account", "driver", "phone", "paired_at", "lids": {lid: phone}}``);
the neonize driver also keeps whatsmeow's own SQLite database beside it (``<account>.sqlite3``).  At start
the session process resumes every account that has a file, so a bridge restart keeps the number
connected; a logout (from Odoo or the phone) or a ban deletes it.  Files are written atomically
(temporary file + rename) and readable by the bridge's user only.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class SessionStore:
    def __init__(self, data_dir: str | Path):
        self.root = Path(data_dir) / "sessions"

    def _name(self, account: str) -> str:
        return _SAFE.sub("_", account)[:120] or "_"

    def path(self, account: str, suffix: str = ".json") -> Path:
        return self.root / f"{self._name(account)}{suffix}"

    def load(self, account: str) -> dict | None:
        try:
            data = json.loads(self.path(account).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def save(self, account: str, data: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(dict(data, account=account), handle)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path(account))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def update(self, account: str, **changes) -> dict:
        data = self.load(account) or {}
        data.update(changes)
        self.save(account, data)
        return data

    def delete(self, account: str) -> None:
        for suffix in (".json", ".sqlite3", ".sqlite3-wal", ".sqlite3-shm"):
            self.path(account, suffix).unlink(missing_ok=True)

    def paired_accounts(self) -> list[str]:
        if not self.root.is_dir():
            return []
        out = []
        for path in sorted(self.root.glob("*.json")):
            data = self.load(path.stem)
            if data and data.get("account"):
                out.append(data["account"])
        return out
