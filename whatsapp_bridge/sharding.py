"""Scale-out: which shard a customer's events go to, which process serves a shard, and safe resharding.

Routing (every producer: the webhook, the session process; Odoo for ``wa:out`` with the same contract
functions).  A customer is every id that names them: their phone number (``wa_id``, normalised by
``contract.route_phone``) and their business-scoped user id (BSUID, ``user_id``).  The ids of one
webhook body are joined like the inbound lanes join them (``IdentityUnion``): a message naming both,
its contact card, a number change.  A customer is sharded by their phone number when one is known
(``contract.route_key``), so one person named by phone and by BSUID lands in one shard.  A BSUID seen
with a phone number is remembered (``<p>wa:route:<account>:<uid>`` -> phone, 90 days), so that user's
later messages without a number follow the number.

*The edge case*: a customer whose **first** messages carry only a BSUID, never seen with a number, is
sharded by the BSUID; once WhatsApp shows their number, they are sharded by the number, which may be
another shard.  Messages of that customer sent in the seconds around that switch may then be written
in another order than sent (nothing is lost or doubled: both shards deliver, and the addon keeps one
contact).  Likewise around a number change (the system message goes with the old number).

Ownership: a shard's stream is read by one consumer at a time.  A worker serves a shard only while it
holds the shard's lease (``ShardLease``: ``SET NX PX``, renewed by a thread every third of its time,
given up on stop).  ``WA_SHARD_INDEX`` says which shards a process serves; two processes listing the
same shard never both read it: the second stands by and takes the shard over when the first stops
renewing (crash, machine lost), after first taking every entry the previous owner left pending, in
stream order, before anything newer.  So placement is explicit (one shard per machine), failover
automatic (a standby process lists several), and a misconfiguration cannot break a customer's order.

Resharding: the shard count in force is ``<p>wa:shards`` (``count``).  A process started with another
``WA_INBOUND_SHARDS`` changes it only when every stream of the count in force is empty (no entry
waiting, none pending); otherwise it refuses to start (``ShardCountError``, naming the streams and what
to do): drain first, then change N.  A webhook server whose N is no longer the one in force answers
503 (Meta retries later) rather than write to a stream nobody reads.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis

from whatsapp_bridge import contract
from whatsapp_bridge.keys import ROUTE_TTL, Keys

log = logging.getLogger(__name__)


# -- one customer: ids joined when one event names them together -------------------------------------------
class IdentityUnion:
    """Union-find over hashable ids; the smallest id of a set names it (deterministic)."""

    def __init__(self):
        self.parent: dict = {}

    def find(self, key):
        root = self.parent.setdefault(key, key)
        while root != self.parent[root]:
            root = self.parent[root]
        while key != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root

    def union_all(self, keys: list) -> None:
        for other in keys[1:]:
            a, b = self.find(keys[0]), self.find(other)
            if a != b:
                self.parent[max(a, b)] = min(a, b)


# -- routing a body ------------------------------------------------------------------------------------------
@dataclass
class _Item:
    """One message or status of a body: where it sits and who it names."""

    where: tuple  # (entry index, change index, list name, item index) or ("", 0, list name, item index)
    account: str
    phones: list[str]
    users: list[str]


@dataclass
class RoutePlan:
    """A body's items grouped by customer; ``lookups``: BSUIDs without a number, to look up."""

    raw: bytes | str
    body: dict | None = None
    items: list[_Item] = field(default_factory=list)
    groups: list[list[int]] = field(default_factory=list)  # item indexes per customer, in body order
    lookups: list[str] = field(default_factory=list)  # route keys (Keys.route) to read

    def parts(self, count: int, keys: Keys, found: dict[str, str] | None = None) -> list[tuple[int, bytes | str]]:
        """``(shard, body)`` to append: the raw body when all of it goes to one shard, else one body per
        shard holding only that shard's messages and statuses (same shape, same order)."""
        if count <= 1 or self.body is None or not self.items:
            return [(0, self.raw)]
        shard_of_item: dict[int, int] = {}
        for group in self.groups:
            key = _group_key([self.items[i] for i in group], keys, found or {})
            shard = contract.shard_index(key, count)
            for i in group:
                shard_of_item[i] = shard
        shards = sorted(set(shard_of_item.values()))
        if len(shards) == 1:
            return [(shards[0], self.raw)]
        return [(shard, json.dumps(self._only(shard, shard_of_item), ensure_ascii=False).encode())
                for shard in shards]

    def pins(self, keys: Keys) -> dict[str, str]:
        """BSUIDs seen with a phone number in this body: route key -> that number (to remember)."""
        out = {}
        for group in self.groups:
            items = [self.items[i] for i in group]
            phone = next((p for item in items for p in item.phones), None)
            if phone:
                for item in items:
                    for user in item.users:
                        out[keys.route(item.account, user)] = phone
        return out

    def _only(self, shard: int, shard_of_item: dict[int, int]) -> dict:
        keep: dict[tuple, set[int]] = {}
        for i, item in enumerate(self.items):
            if shard_of_item[i] == shard:
                keep.setdefault(item.where[:3], set()).add(item.where[3])
        body = copy.copy(self.body)
        if "entry" not in body:  # a session event: top-level messages / statuses
            for name in ("messages", "statuses"):
                if isinstance(body.get(name), list):
                    body[name] = [x for j, x in enumerate(body[name]) if j in keep.get(("", 0, name), ())]
            return body
        entries = []
        for e, entry in enumerate(body["entry"]):
            if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
                continue
            changes = []
            for c, change in enumerate(entry["changes"]):
                value = change.get("value") if isinstance(change, dict) else None
                if not isinstance(value, dict):
                    continue
                lists = {name: [x for j, x in enumerate(value[name]) if j in keep.get((e, c, name), ())]
                         for name in ("messages", "statuses") if isinstance(value.get(name), list)}
                has_items = any(lists.values())
                # a change without messages or statuses (errors, other fields) goes with shard 0
                if has_items or (shard == 0 and not any(value.get(n) for n in ("messages", "statuses"))):
                    changes.append(dict(change, value=dict(value, **lists)))
            if changes:
                entries.append(dict(entry, changes=changes))
        return dict(body, entry=entries)


def _group_key(items: list[_Item], keys: Keys, found: dict[str, str]) -> str:
    phone = next((p for item in items for p in item.phones), None)
    if phone:
        return contract.route_key(phone)
    for item in items:
        for user in item.users:
            pinned = found.get(keys.route(item.account, user))
            if pinned:
                return contract.route_key(pinned)
    first = next(((item.account, u) for item in items for u in item.users), None)
    return contract.route_key(None, first[1], first[0]) if first else ""


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def plan_body(raw: bytes | str, keys: Keys) -> RoutePlan:
    """Read enough of a webhook body (or a session event) to route it; never raises (an unreadable
    body goes, whole, to shard 0, whose worker dead-letters it with the reason)."""
    plan = RoutePlan(raw)
    try:
        body = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        return plan
    if not isinstance(body, dict):
        return plan
    plan.body = body
    try:
        if isinstance(body.get("entry"), list):
            _meta_items(body, plan)
        else:
            _session_items(body, plan)
    except (AttributeError, TypeError, KeyError):  # a shape the parser will refuse: shard 0, whole
        plan.body, plan.items = None, []
        return plan
    union = IdentityUnion()
    names = []
    for i, item in enumerate(plan.items):
        ids = [("p", p) for p in item.phones] + [("u", item.account, u) for u in item.users] or [("i", i)]
        names.append(ids[0])
        union.union_all(ids)
    groups: dict = {}
    for i, name in enumerate(names):
        groups.setdefault(union.find(name), []).append(i)
    plan.groups = list(groups.values())
    for group in plan.groups:
        items = [plan.items[i] for i in group]
        if not any(item.phones for item in items):
            plan.lookups.extend(keys.route(item.account, u) for item in items for u in item.users)
    return plan


def _add(plan: RoutePlan, where: tuple, account: str, phones: Iterable, users: Iterable) -> None:
    plan.items.append(_Item(where, account, [p for p in (contract.route_phone(x) for x in phones) if p],
                            [u for u in (_text(x) for x in users) if u]))


def _meta_items(body: dict, plan: RoutePlan) -> None:
    for e, entry in enumerate(body["entry"]):
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for c, change in enumerate(changes if isinstance(changes, list) else []):
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                continue
            metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            account = _text(metadata.get("phone_number_id"))
            contacts = [x for x in value.get("contacts") or [] if isinstance(x, dict)]
            for j, msg in enumerate(value.get("messages") or []):
                msg = msg if isinstance(msg, dict) else {}
                phones, users = [msg.get("from")], [msg.get("from_user_id")]
                for card in contacts:  # the contact card names the sender the other way too
                    if (msg.get("from") and card.get("wa_id") == msg.get("from")) or (
                            msg.get("from_user_id") and card.get("user_id") == msg.get("from_user_id")):
                        phones.append(card.get("wa_id"))
                        users.append(card.get("user_id"))
                system = msg.get("system") if isinstance(msg.get("system"), dict) else {}
                phones += [system.get("wa_id"), system.get("new_wa_id")]
                users += [system.get("user_id"), system.get("new_user_id")]
                _add(plan, (e, c, "messages", j), account, phones, users)
            for j, status in enumerate(value.get("statuses") or []):
                status = status if isinstance(status, dict) else {}
                _add(plan, (e, c, "statuses", j), account, [status.get("recipient_id")],
                     [status.get("recipient_user_id")])


def _session_items(body: dict, plan: RoutePlan) -> None:
    account = _text(body.get("account"))
    for j, msg in enumerate(body.get("messages") or []):
        sender = msg.get("from") if isinstance(msg, dict) and isinstance(msg.get("from"), dict) else {}
        _add(plan, ("", 0, "messages", j), account, [sender.get("phone")], [])
    for j, receipt in enumerate(body.get("statuses") or []):
        _add(plan, ("", 0, "statuses", j), account, [receipt.get("recipient") if isinstance(receipt, dict) else ""], [])


def route_and_add(client: redis.Redis, keys: Keys, count: int, raw: bytes | str) -> list[str]:
    """Append ``raw`` (a webhook body, a session event) to its customers' ``wa:in`` shards (sync client)."""
    plan = plan_body(raw, keys)
    found = {}
    if plan.lookups and count > 1:
        values = _pipelined_get(client, plan.lookups)
        found = {k: _str(v) for k, v in zip(plan.lookups, values, strict=True) if v}
    pipe = client.pipeline(transaction=False)
    for shard, body in plan.parts(count, keys, found):
        pipe.xadd(keys.shard_stream(contract.STREAM_IN, shard), {contract.PAYLOAD_FIELD: body})
    if count > 1:
        for key, phone in plan.pins(keys).items():
            pipe.set(key, phone, ex=ROUTE_TTL)
    return [_str(r) for r in pipe.execute() if isinstance(r, (bytes, str))]


def _pipelined_get(client, names: list[str]) -> list:
    pipe = client.pipeline(transaction=False)  # one GET each: the keys may live on several cluster nodes
    for name in names:
        pipe.get(name)
    return pipe.execute()


def _str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# -- the shard count in force, and resharding --------------------------------------------------------------
class ShardCountError(RuntimeError):
    """The bridge was started with a shard count it cannot switch to now; the message says what to do."""


def stream_backlog(client: redis.Redis, stream: str) -> tuple[int, int]:
    """(entries in the stream, entries pending in its groups)."""
    length = int(client.xlen(stream))
    pending = 0
    if length or client.exists(stream):
        try:
            pending = sum(int(g.get("pending") or 0) for g in client.xinfo_groups(stream))
        except redis.ResponseError:
            pending = 0
    return length, pending


def shard_streams(keys: Keys, count: int) -> list[str]:
    k = keys.for_shard(0, count)
    return [k.shard_stream(base, i) for base in contract.SHARDED_STREAMS for i in range(count)]


def check_shard_count(client: redis.Redis, keys: Keys, count: int) -> int:
    """Make ``count`` the shard count in force, or refuse; returns the count it replaced (or ``count``).

    No record yet: a deployment from before shards ran one (``wa:in``/``wa:out``).  Switching is safe only
    when every stream of the count in force is empty: its events would otherwise be read by nobody, or
    out of order by the new shards."""
    record = {_str(k): _str(v) for k, v in client.hgetall(keys.shards).items()}
    current = int(record.get("count") or 1)
    if current == count:
        if not record:
            client.hsetnx(keys.shards, "count", count)
        return current
    busy = []
    for stream in shard_streams(keys, current):
        length, pending = stream_backlog(client, stream)
        if length or pending:
            busy.append(f"{stream} ({length} entries, {pending} pending)")
    if busy:
        raise ShardCountError(
            f"WA_INBOUND_SHARDS={count}, but this deployment runs {current} shard(s) and their streams still "
            f"hold entries: {', '.join(busy)}. Resharding is drain, then change: keep every bridge process at "
            f"WA_INBOUND_SHARDS={current}, stop the webhook servers (Meta retries) and let the workers empty "
            f"these streams (GET /health shows them), then stop every process and start them all with "
            f"WA_INBOUND_SHARDS={count}.")
    client.hset(keys.shards, mapping={"count": count, "previous": current, "changed_at": int(time.time())})
    log.warning("shard count changed", extra={"fields": {"from": current, "to": count}})
    return current


def former_streams(client: redis.Redis, keys: Keys) -> tuple[int, list[str]]:
    """(the former shard count, its streams that still hold entries) after a resharding."""
    record = {_str(k): _str(v) for k, v in client.hgetall(keys.shards).items()}
    count, previous = int(record.get("count") or 1), int(record.get("previous") or record.get("count") or 1)
    if previous == count:
        return previous, []
    return previous, [name for name in shard_streams(keys, previous) if client.xlen(name)]


def move_former(client: redis.Redis, keys: Keys) -> int:
    """Append what a producer left in the former shard count's streams (it wrote just before the switch) to the
    streams of the count in force, routed again, oldest first; returns the entries moved.  Entries still
    pending (a consumer of the former count is reading them) are refused: that consumer must finish first."""
    count = int(_str(client.hget(keys.shards, "count") or b"1"))
    previous, streams = former_streams(client, keys)
    moved = 0
    for stream in streams:
        length, pending = stream_backlog(client, stream)
        if pending:
            raise ShardCountError(f"{stream} has {pending} entries pending in a consumer of the former shard count "
                                  f"({previous}): let it finish (or stop it) before moving its entries")
        for entry_id, fields in client.xrange(stream):
            raw = fields.get(contract.PAYLOAD_FIELD.encode(), b"")
            if stream.startswith(keys.prefix + contract.STREAM_OUT):
                try:
                    job = json.loads(raw)
                except ValueError:
                    job = {}
                index = contract.shard_index(contract.outbound_route_key(job), count)
                client.xadd(keys.for_shard(0, count).shard_stream(contract.STREAM_OUT, index),
                            {contract.PAYLOAD_FIELD: raw})
            else:
                route_and_add(client, keys.for_shard(0, count), count, raw)
            client.xdel(stream, entry_id)  # after the copy: a crash in between doubles it, deduplicated later
            moved += 1
    return moved


class ShardCountGuard:
    """For producers: is the shard count in force still ours?  Read at most once a second."""

    def __init__(self, count: int, interval: float = 1.0, clock=time.monotonic):
        self.count = count
        self.interval = interval
        self.clock = clock
        self._checked = float("-inf")
        self._in_force = count

    def due(self) -> bool:
        return self.clock() - self._checked >= self.interval

    def seen(self, raw) -> bool:
        """``raw``: the recorded count; none (a Redis that lost its data) counts as ours, to be recorded again."""
        self._checked = self.clock()
        self._in_force = int(_str(raw)) if raw else self.count
        return self.ok

    @property
    def ok(self) -> bool:
        return self._in_force == self.count

    @property
    def in_force(self) -> int:
        return self._in_force


# -- who serves a shard ---------------------------------------------------------------------------------------
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class LeaseLost(RuntimeError):
    """The worker no longer holds its shard's lease: it stops reading and stands by again."""


class ShardLease:
    """An exclusive, expiring claim on one shard's stream, renewed in the background while held."""

    def __init__(self, client: redis.Redis, key: str, owner: str, ttl: float, stop: threading.Event):
        self.redis = client
        self.key = key
        self.owner = owner
        self.ttl_ms = max(1000, int(ttl * 1000))
        self.stop = stop
        self.held = threading.Event()
        self._thread: threading.Thread | None = None
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def holder(self) -> str | None:
        raw = self.redis.get(self.key)
        return _str(raw) if raw else None

    def try_acquire(self) -> bool:
        if self.redis.set(self.key, self.owner, nx=True, px=self.ttl_ms) or self.holder() == self.owner:
            self.redis.pexpire(self.key, self.ttl_ms)
            self.held.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._keep, name=f"lease-{self.key}", daemon=True)
                self._thread.start()
            return True
        return False

    def acquire(self, on_wait=None) -> None:
        """Wait (standing by) until the lease is ours; raises ``retry.Stopped`` when stopped."""
        from whatsapp_bridge.retry import Stopped

        while not self.try_acquire():
            if on_wait is not None:
                on_wait(self.holder())
            if self.stop.wait(self.ttl_ms / 3000):
                raise Stopped()

    def check(self) -> None:
        if not self.held.is_set():
            raise LeaseLost(f"lease {self.key} lost")

    def _keep(self) -> None:
        renewed = time.monotonic()
        while self.held.is_set() and not self.stop.wait(self.ttl_ms / 3000):
            try:
                if not self._renew(keys=[self.key], args=[self.owner, self.ttl_ms]):
                    log.error("shard lease lost to another consumer, standing by", extra={"fields": {
                        "lease": self.key, "owner": self.owner, "holder": self.holder()}})
                    self.held.clear()
                renewed = time.monotonic()
            except redis.RedisError as exc:  # held while its time lasts; then another process may take it
                if time.monotonic() - renewed > self.ttl_ms / 1000:
                    self.held.clear()
                log.warning("could not renew the shard lease", extra={"fields": {
                    "lease": self.key, "error": str(exc), "held": self.held.is_set()}})

    def release(self) -> None:
        if self.held.is_set():
            self.held.clear()
            with contextlib.suppress(redis.RedisError):
                self._release(keys=[self.key], args=[self.owner])
