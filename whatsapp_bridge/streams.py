"""Redis Streams helpers: consumer groups, reading (own pending first), acking, reclaiming, dead letters.

Every stream entry has one field, ``payload`` (contract ``PAYLOAD_FIELD``), a JSON document.
Workers use one consumer group per stream; a consumer name is stable across restarts
(``WA_CONSUMER_NAME``) so a restarted worker re-reads its own pending entries first.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis

from whatsapp_bridge import contract
from whatsapp_bridge.keys import Keys

GROUP_IN = "wa-bridge-inbound"
GROUP_OUT = "wa-bridge-outbound"
DEAD_LETTERS_MAX = 10_000  # wa:dead keeps about this many (WA_DEAD_LETTERS_MAX): the oldest are dropped

@dataclass(frozen=True)
class Entry:
    id: str
    payload: str  # the raw JSON text of the ``payload`` field ("" when the field is missing)
    deliveries: int = 1  # how often the group delivered it (1 for a fresh read)


def _decode(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _entries(raw) -> list[Entry]:
    out = []
    for entry_id, fields in raw or []:
        if fields is None:  # deleted while pending
            out.append(Entry(id=_decode(entry_id), payload=""))
            continue
        fields = {_decode(k): v for k, v in fields.items()}
        out.append(Entry(id=_decode(entry_id), payload=_decode(fields.get(contract.PAYLOAD_FIELD, b""))))
    return out


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Streams:
    """Stream operations for one deployment (one prefix) on one Redis client, as seen by shard
    ``index`` of ``count`` (``wa:in`` / ``wa:out`` name that shard's streams)."""

    def __init__(self, client: redis.Redis, prefix: str = "", index: int = 0, count: int = 1,
                 dead_max: int = DEAD_LETTERS_MAX):
        self.redis = client
        self.keys = Keys(prefix, index, count)
        self.dead_max = dead_max

    @classmethod
    def of(cls, config, client: redis.Redis, shard: int = 0) -> Streams:
        """The streams of ``config``'s deployment as shard ``shard`` sees them."""
        return cls(client, config.stream_prefix, shard, config.inbound_shards, config.dead_letters_max)

    def name(self, base: str) -> str:
        return self.keys.stream(base)

    # -- writing ---------------------------------------------------------------------------
    def add(self, base: str, payload: dict | str) -> str:
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        return _decode(self.redis.xadd(self.name(base), {contract.PAYLOAD_FIELD: text}))

    def dead_letter(self, source: str, reason: str, payload, entry_id: str | None = None, **extra) -> str:
        """Append to ``wa:dead``: the reason, where it came from and the original payload."""
        record = {
            "v": contract.CONTRACT_VERSION,
            "source": self.name(source),
            "entry_id": entry_id,
            "reason": reason,
            "failed_at": int(time.time()),
            "payload": payload,
        }
        record.update(extra)
        text = json.dumps(record, ensure_ascii=False)
        # capped: a flood of bad input cannot fill Redis (``/health`` alerts before the cap drops any)
        return _decode(self.redis.xadd(self.name(contract.STREAM_DEAD), {contract.PAYLOAD_FIELD: text},
                                       maxlen=self.dead_max, approximate=True))

    # -- consuming -------------------------------------------------------------------------
    def ensure_group(self, base: str, group: str) -> None:
        try:
            self.redis.xgroup_create(self.name(base), group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read_own_pending(self, base: str, group: str, consumer: str, count: int, after: str = "0") -> list[Entry]:
        """Entries delivered to ``consumer`` and not acked yet (``XREADGROUP ... <after>``), oldest first."""
        raw = self.redis.xreadgroup(group, consumer, {self.name(base): after}, count=count)
        entries = _entries(raw[0][1]) if raw else []
        if entries:
            counts = self.delivery_counts(base, group, entries[0].id, entries[-1].id, consumer, len(entries))
            entries = [Entry(e.id, e.payload, counts.get(e.id, 1)) for e in entries]
        return entries

    def read_new(self, base: str, group: str, consumer: str, count: int, block_ms: int | None) -> list[Entry]:
        raw = self.redis.xreadgroup(group, consumer, {self.name(base): ">"}, count=count, block=block_ms)
        return _entries(raw[0][1]) if raw else []

    def autoclaim(self, base: str, group: str, consumer: str, min_idle_ms: int, count: int = 100) -> list[Entry]:
        """Take over entries other consumers left pending for ``min_idle_ms`` (a crashed worker)."""
        claimed: list[Entry] = []
        start = "0-0"
        while True:
            result = self.redis.xautoclaim(self.name(base), group, consumer, min_idle_ms, start_id=start, count=count)
            next_start, raw = _decode(result[0]), result[1]
            claimed.extend(_entries(raw))
            if next_start in ("0-0", start) or len(claimed) >= count:
                break
            start = next_start
        return claimed

    def claim_all(self, base: str, group: str, consumer: str, count: int = 1000) -> int:
        """Make every entry pending in ``group`` ours (``XAUTOCLAIM`` with no idle time): for the holder of
        a shard's lease, which is the only reader; they are then re-read, in stream order, as own pending."""
        taken, start = 0, "0-0"
        while True:
            result = self.redis.xautoclaim(self.name(base), group, consumer, 0, start_id=start, count=count)
            next_start = _decode(result[0])
            taken += len(result[1])
            if next_start in ("0-0", start):
                return taken
            start = next_start

    def delivery_counts(self, base, group, first, last, consumer, count) -> dict[str, int]:
        rows = self.redis.xpending_range(
            self.name(base), group, min=first, max=last, count=count, consumername=consumer
        )
        return {_decode(r["message_id"]): int(r["times_delivered"]) for r in rows}

    def ack(self, base: str, group: str, ids: list[str], delete: bool = True) -> int:
        """XACK (and XDEL, to keep the stream short) the given entries."""
        if not ids:
            return 0
        stream = self.name(base)
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(stream, group, *ids)
        if delete:
            pipe.xdel(stream, *ids)
        acked = int(pipe.execute()[0])
        if not delete:
            self.trim_acked(base)
        return acked

    def trim_acked(self, base: str) -> None:
        """A stream several groups read (``wa:control``) cannot delete on ack: trim (``XTRIM MINID ~``)
        what every group has acked, i.e. below the oldest entry some group still has pending or not read."""
        stream = self.name(base)
        try:
            groups = self.redis.xinfo_groups(stream)
        except redis.ResponseError:
            return
        floor = None
        for group in groups:
            name = _decode(group["name"])
            low = _decode(group.get("last-delivered-id") or "0-0")
            if int(group.get("pending") or 0):
                # the group's consumer may ack between the two calls: then nothing is pending any more
                oldest = self.redis.xpending(stream, name).get("min")
                if oldest is not None:
                    low = min(low, _decode(oldest), key=_id_key)
            floor = low if floor is None else min(floor, low, key=_id_key)
        if floor and floor != "0-0":
            self.redis.xtrim(stream, minid=floor, approximate=True)

    def set_alert(self, name: str, reason: str, code=None, action: str = "") -> dict:
        info = {"reason": reason, "code": code, "since": int(time.time()), "action": action}
        self.redis.set(self.keys.alert(name), json.dumps(info))
        return info

    def alert(self, name: str) -> dict | None:
        raw = self.redis.get(self.keys.alert(name))
        return json.loads(raw) if raw else None

    def clear_alert(self, name: str) -> bool:
        return bool(self.redis.delete(self.keys.alert(name)))

    def pending_count(self, base: str, group: str) -> int:
        try:
            info = self.redis.xpending(self.name(base), group)
        except redis.ResponseError:
            return 0
        return int(info["pending"])

    def length(self, base: str) -> int:
        return int(self.redis.xlen(self.name(base)))
