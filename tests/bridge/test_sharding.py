"""Scale-out: customers spread over shards, each customer's order kept through a consumer killed and a
resharding, nothing lost or doubled, and the refusal to start on an unsafe shard count change.
Real Redis, real bridge processes (``python -m whatsapp_bridge``), the Odoo TEST DOUBLE."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whatsapp_bridge import contract
from whatsapp_bridge.keys import Keys
from whatsapp_bridge.sharding import ShardCountError, check_shard_count, plan_body, route_and_add
from whatsapp_bridge.streams import GROUP_IN, Streams
from whatsapp_bridge.webhook import sign

from .helpers import REDIS_URL, ROOT, env_for, wait_until
from .test_inbound import make_worker, text_body
from .test_webhook import serve

ACCOUNT = "106540352242922"


def customers(count: int, shards: int = 2) -> list[str]:
    """``count`` Brazilian mobiles, as many in each of ``shards`` shards."""
    per = {i: [] for i in range(shards)}
    n = 0
    while min(len(v) for v in per.values()) < count // shards:
        phone = f"55119{87000000 + n:08d}"
        n += 1
        shard = contract.shard_index(contract.route_key(phone), shards)
        if len(per[shard]) < count // shards:
            per[shard].append(phone)
    return [p for i in range(shards) for p in per[i]]


def webhook(wamid: str, phone: str, ts: int, text: str | None = None) -> dict:
    return text_body(wamid, text or wamid, ts, wa_id=phone)


def post(client, config, body: dict) -> httpx.Response:
    raw = json.dumps(body).encode()
    return client.post("/webhook", content=raw, headers={"X-Hub-Signature-256": sign(config.app_secret, raw)})


def streams_of(rds, prefix: str, count: int) -> dict[str, list[dict]]:
    out = {}
    for i in range(count):
        name = contract.shard_stream(contract.STREAM_IN, prefix, i, count)
        out[name] = [json.loads(f[b"payload"]) for _, f in rds.xrange(name)]
    return out


def senders(body: dict) -> list[str]:
    if "entry" not in body:
        return [m["from"]["phone"] for m in body.get("messages", [])]
    return [m.get("from") for e in body["entry"] for c in e["changes"] for m in c["value"].get("messages", [])]


def assert_each_customer_in_order_once(odoo, sent: dict[str, list[str]]) -> None:
    """Every message stored once (the double dedups like the addon), each customer's in sending order."""
    stored = [(m["from"]["wa_id"], m["wamid"]) for m in odoo.items("ingest_messages")]
    assert len(stored) == len({w for _, w in stored}), "a message stored twice"
    for phone, wamids in sent.items():
        got = [w for p, w in stored if p == phone]
        assert got == wamids, f"customer {phone}: {got} != {wamids}"


# -- routing ------------------------------------------------------------------------------------------------
def test_one_customer_maps_to_one_shard_however_whatsapp_names_them():
    nine, eight = "5511987654321", "551187654321"  # a Brazilian mobile with and without its ninth digit
    assert contract.route_key(nine) == contract.route_key(eight) == contract.route_key("+55 11 98765-4321")
    assert contract.route_key(nine, "BR.1A2B", ACCOUNT) == contract.route_key(nine)  # the number wins
    for count in (2, 3, 8):
        assert contract.shard_index(contract.route_key(nine), count) == contract.shard_index(
            contract.route_key(eight), count)
    shards = {contract.shard_index(contract.route_key(p), 2) for p in customers(20)}
    assert shards == {0, 1}
    assert contract.shard_stream(contract.STREAM_IN, "acme:", 1, 2) == "acme:wa:in:1/2"
    assert contract.shard_stream(contract.STREAM_IN, "acme:", 0, 1) == "acme:wa:in"
    assert contract.shard_stream(contract.STREAM_DEAD, "acme:", 1, 2) == "acme:wa:dead"  # not sharded


def test_a_shards_keys_share_its_cluster_hash_tag():
    keys = Keys("acme:", 1, 2)
    tag = "{acme:wa:in:1/2}"
    for key in (keys.seen(ACCOUNT, "wamid.X"), keys.retry_statuses, keys.probe("ingest_messages")):
        assert tag in key
    assert keys.lease(contract.STREAM_IN) == "acme:wa:lease:{acme:wa:in:1/2}"
    # Redis Cluster hashes only what is inside the first braces: the stream (no braces) hashes its whole name
    assert keys.stream(contract.STREAM_IN) == tag.strip("{}")


def test_a_body_naming_customers_of_both_shards_is_split_in_order(rds, prefix):
    a, b = customers(2)
    body = webhook("wamid.A1", a, 100)
    value = body["entry"][0]["changes"][0]["value"]
    second = copy.deepcopy(value["messages"][0])
    second.update(id="wamid.B1", **{"from": b})
    third = copy.deepcopy(value["messages"][0])
    third.update(id="wamid.A2")
    value["messages"] += [second, third]
    value["contacts"].append({"profile": {"name": "Bia"}, "wa_id": b})
    route_and_add(rds, Keys(prefix, 0, 2), 2, json.dumps(body))
    got = streams_of(rds, prefix, 2)
    shard_a = contract.shard_stream(contract.STREAM_IN, prefix, contract.shard_index(contract.route_key(a), 2), 2)
    shard_b = contract.shard_stream(contract.STREAM_IN, prefix, contract.shard_index(contract.route_key(b), 2), 2)
    assert [senders(x) for x in got[shard_a]] == [[a, a]]
    assert [senders(x) for x in got[shard_b]] == [[b]]
    assert [m["id"] for m in got[shard_a][0]["entry"][0]["changes"][0]["value"]["messages"]] == ["wamid.A1",
                                                                                                   "wamid.A2"]


def test_a_user_known_by_number_keeps_its_shard_when_a_message_carries_only_its_user_id(rds, prefix):
    keys = Keys(prefix, 0, 2)
    phone = next(p for p in customers(10) if contract.shard_index(contract.route_key(p), 2)
                 != contract.shard_index(contract.route_key(None, "BR.U1", ACCOUNT), 2))
    first = webhook("wamid.1", phone, 100)
    first["entry"][0]["changes"][0]["value"]["messages"][0]["from_user_id"] = "BR.U1"
    first["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] = "BR.U1"
    later = webhook("wamid.2", phone, 101)
    later_value = later["entry"][0]["changes"][0]["value"]
    del later_value["messages"][0]["from"]
    later_value["messages"][0]["from_user_id"] = "BR.U1"
    later_value["contacts"] = [{"profile": {"name": "Maria"}, "user_id": "BR.U1"}]
    route_and_add(rds, keys, 2, json.dumps(first))
    route_and_add(rds, keys, 2, json.dumps(later))
    (stream,) = [name for name, entries in streams_of(rds, prefix, 2).items() if entries]
    assert len(streams_of(rds, prefix, 2)[stream]) == 2
    assert stream.endswith(f"{contract.shard_index(contract.route_key(phone), 2)}/2")


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                     max_leaves=20)


def _meta(messages, statuses):
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": ACCOUNT}, "messages": messages, "statuses": statuses}}]}]}


_phone = st.sampled_from(["5511987654321", "551187654321", "5521912345678", "5531988887777", "", None])
_user = st.sampled_from(["BR.A", "BR.B", "", None])
_message = st.fixed_dictionaries({"id": st.text(min_size=1, max_size=6), "from": _phone, "from_user_id": _user})
_status = st.fixed_dictionaries({"id": st.text(min_size=1, max_size=6), "recipient_id": _phone,
                                 "recipient_user_id": _user})


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(body=_json | st.builds(_meta, st.lists(_message | _json, max_size=5), st.lists(_status | _json, max_size=3)),
       count=st.integers(1, 4))
def test_routing_any_body_loses_nothing_and_keeps_one_customer_together(body, count):
    keys = Keys("p:", 0, count)
    raw = json.dumps(body)
    plan = plan_body(raw, keys)  # never raises
    parts = plan.parts(count, keys, {})
    assert all(0 <= shard < count for shard, _ in parts)
    if len(parts) == 1:
        assert parts[0][1] == raw  # whole bodies are stored as received
        return
    ids = {"messages": [], "statuses": []}
    shard_of_phone = {}
    for shard, part in parts:
        for change in (c for e in json.loads(part)["entry"] for c in e["changes"]):
            for name in ids:
                for item in change["value"].get(name) or []:
                    ids[name].append(json.dumps(item, sort_keys=True))
                    phone = contract.route_phone(item.get("from") or item.get("recipient_id")) if isinstance(
                        item, dict) else ""
                    if phone:
                        assert shard_of_phone.setdefault(phone, shard) == shard, "one customer in two shards"
    value = body["entry"][0]["changes"][0]["value"]
    for name in ids:  # every item once, in its order inside each shard
        assert sorted(ids[name]) == sorted(json.dumps(x, sort_keys=True) for x in value[name])


# -- producers --------------------------------------------------------------------------------------------------
def test_the_webhook_spreads_customers_over_both_shards_and_keeps_each_in_one(make_config, rds, prefix):
    config = make_config(WA_INBOUND_SHARDS=2)
    check_shard_count(rds, Keys(prefix), 2)
    phones = customers(10)
    with serve(config) as client:
        for n in range(3):
            for i, phone in enumerate(phones):
                assert post(client, config, webhook(f"wamid.{i}.{n}", phone, 100 + n)).status_code == 200
    got = streams_of(rds, prefix, 2)
    assert all(len(entries) == 15 for entries in got.values())
    for phone in phones:
        assert sum(1 for entries in got.values() if any(phone in senders(x) for x in entries)) == 1


def test_a_webhook_server_left_on_the_former_shard_count_answers_503(make_config, rds, prefix):
    config = make_config(WA_INBOUND_SHARDS=2)
    check_shard_count(rds, Keys(prefix), 2)
    with serve(config) as client:
        assert post(client, config, webhook("wamid.1", customers(2)[0], 100)).status_code == 200
        for stream in streams_of(rds, prefix, 2):
            rds.delete(stream)
        check_shard_count(rds, Keys(prefix), 3)  # resharded elsewhere, the streams being empty
        time.sleep(1.1)  # the webhook reads the shard count in force at most once a second
        response = post(client, config, webhook("wamid.2", customers(2)[0], 101))
        assert response.status_code == 503
        health = client.get("/health").json()
    assert {"shards"} <= {a["source"] for a in health["alerts"]}
    assert not any(rds.xlen(s) for s in streams_of(rds, prefix, 2))


# -- the shard count in force ------------------------------------------------------------------------------------
def test_the_shard_count_cannot_change_while_a_stream_holds_entries(rds, prefix):
    keys = Keys(prefix)
    check_shard_count(rds, keys, 2)
    Streams(rds, prefix, 1, 2).add(contract.STREAM_IN, {"x": 1})
    with pytest.raises(ShardCountError) as refused:
        check_shard_count(rds, keys, 3)
    assert f"{prefix}wa:in:1/2 (1 entries, 0 pending)" in str(refused.value)
    assert "WA_INBOUND_SHARDS=2" in str(refused.value)
    assert rds.hget(keys.shards, "count") == b"2"
    rds.delete(f"{prefix}wa:in:1/2")
    assert check_shard_count(rds, keys, 3) == 2
    assert rds.hget(keys.shards, "count") == b"3" and rds.hget(keys.shards, "previous") == b"2"


def test_a_deployment_from_before_shards_counts_as_one_shard(rds, prefix):
    rds.xadd(f"{prefix}wa:out", {"payload": "{}"})  # a job Odoo queued before the upgrade
    with pytest.raises(ShardCountError, match=rf"{prefix}wa:out \(1 entries"):
        check_shard_count(rds, Keys(prefix), 2)


def test_the_bridge_refuses_to_start_on_an_unsafe_shard_count_change(make_config, rds, prefix, odoo, simulator):
    check_shard_count(rds, Keys(prefix), 2)
    Streams(rds, prefix, 0, 2).add(contract.STREAM_IN, {"x": 1})
    env = env_for(prefix, odoo.url, simulator.url, WA_INBOUND_SHARDS=4)
    done = subprocess.run([sys.executable, "-m", "whatsapp_bridge", "inbound", "--env-file", "/nonexistent"],
                          env=dict(os.environ, **env), cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2
    assert f"{prefix}wa:in:0/2 (1 entries" in done.stderr and "drain" in done.stderr.lower()
    assert odoo.attempts("ingest_messages") == 0


def test_the_bridge_refuses_shards_with_an_addon_that_does_not_route_its_outbound_jobs(make_config, odoo):
    from whatsapp_bridge.odoo_client import ContractMismatch, OdooClient

    odoo.features = ("templates", "session")
    with pytest.raises(ContractMismatch, match="feature 'shards'"):
        OdooClient(make_config(WA_INBOUND_SHARDS=2)).check_contract()
    assert OdooClient(make_config()).check_contract()


# -- one consumer per shard ----------------------------------------------------------------------------------------
def test_one_shard_has_one_consumer_and_a_standby_takes_over_what_it_left_pending(make_config, rds, prefix, odoo):
    config = make_config(WA_SHARD_LEASE_SECONDS=1)
    first = make_worker(config.with_overrides(consumer_name="first"))
    second = make_worker(config.with_overrides(consumer_name="second"))
    phone = customers(2)[0]
    stream = f"{prefix}wa:in"
    first.setup()
    for n in range(3):
        rds.xadd(stream, {"payload": json.dumps(webhook(f"wamid.{n}", phone, 100 + n))})
    # the first consumer read two entries and "crashed" holding its lease: they stay pending, its own
    rds.xreadgroup(GROUP_IN, first.consumer, {stream: ">"}, count=2)
    rds.set(first.keys.lease(contract.STREAM_IN), first.consumer, px=1000)  # its lease, no longer renewed
    thread = threading.Thread(target=second.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        assert odoo.items("ingest_messages") == []  # standing by while the lease is held
        wait_until(lambda: len(odoo.items("ingest_messages")) == 3, timeout=15)
    finally:
        second.stop.set()
        thread.join(10)
    assert [m["wamid"] for m in odoo.items("ingest_messages")] == ["wamid.0", "wamid.1", "wamid.2"]
    assert rds.xlen(stream) == 0 and rds.get(second.keys.lease(contract.STREAM_IN)) is None  # released on stop


# -- processes: two shards, a consumer killed, a resharding ------------------------------------------------------------
def _procs_env(prefix, odoo, simulator, **extra):
    return env_for(prefix, odoo.url, simulator.url, WA_SHARD_LEASE_SECONDS=2, WA_BATCH_SIZE=20, **extra)


def _send(client, config, phones, rounds, start, sent, pause=0.0):
    for n in range(start, start + rounds):
        for i, phone in enumerate(phones):
            wamid = f"wamid.{i}.{n:03d}"
            assert post(client, config, webhook(wamid, phone, 1000 + n)).status_code == 200
            sent.setdefault(phone, []).append(wamid)
        time.sleep(pause)


class Proc:
    """One ``python -m whatsapp_bridge <args>`` process, its output in a file under .run/logs."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]):
        self.name, self.args, self.env = name, args, env
        self.process: subprocess.Popen | None = None

    def start(self) -> Proc:
        full = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
        full.update(self.env)
        log_dir = ROOT / ".run" / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / f"{self.name}.log", "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "whatsapp_bridge", *self.args], env=full, cwd=ROOT,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL: a crash, nothing finishes."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def procs():
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.stop(15)


def test_two_shards_keep_each_customers_order_through_a_consumer_killed_and_a_resharding(
        make_config, rds, prefix, odoo, simulator, procs):
    phones = customers(8)
    sent: dict[str, list[str]] = {}

    def worker(name, shards, index=""):
        proc = Proc(f"shard-test-{prefix.strip(':')}-{name}", ["inbound", "--env-file", "/nonexistent"],
                    _procs_env(prefix, odoo, simulator, WA_INBOUND_SHARDS=shards, WA_SHARD_INDEX=index,
                               WA_CONSUMER_NAME=name)).start()
        procs.append(proc)
        return proc

    def drained(shards):
        return all(rds.xlen(s) == 0 for s in streams_of(rds, prefix, shards))

    # 1. two shards, one process each, and a standby that may serve both
    config = make_config(WA_INBOUND_SHARDS=2)
    check_shard_count(rds, Keys(prefix), 2)
    owners = [worker("a", 2, "0"), worker("b", 2, "1")]
    wait_until(lambda: all(rds.get(Keys(prefix, i, 2).lease(contract.STREAM_IN)) for i in range(2)), timeout=30)
    worker("standby", 2, "0,1")
    with serve(config) as client:
        _send(client, config, phones, 5, 0, sent, pause=0.05)
        wait_until(lambda: len(odoo.items("ingest_messages")) >= 20, timeout=30)
        owners[0].kill()  # SIGKILL while customers keep writing: its shard goes to the standby
        _send(client, config, phones, 5, 5, sent, pause=0.05)
        wait_until(lambda: drained(2) and len(odoo.items("ingest_messages")) == 80, timeout=60)
    assert rds.get(Keys(prefix, 0, 2).lease(contract.STREAM_IN)) == b"standby-in"
    got = {contract.shard_index(contract.route_key(m["from"]["wa_id"]), 2) for m in odoo.items("ingest_messages")}
    assert got == {0, 1}
    assert_each_customer_in_order_once(odoo, sent)

    # 2. resharding to 3: refused while a shard holds entries, then drain, then change N
    for proc in procs:
        proc.stop(15)
    with serve(config) as client:  # the webhook keeps taking messages while no worker runs
        _send(client, config, phones, 2, 10, sent)
    refused = subprocess.run([sys.executable, "-m", "whatsapp_bridge", "inbound", "--env-file", "/nonexistent"],
                             env=dict(os.environ, **_procs_env(prefix, odoo, simulator, WA_INBOUND_SHARDS=3)),
                             cwd=ROOT,
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2 and "drain" in refused.stderr.lower()
    worker("drain", 2)  # drain: one process at the old count serves both shards
    wait_until(lambda: drained(2) and len(odoo.items("ingest_messages")) == 96, timeout=60)
    procs[-1].stop(15)
    config3 = make_config(WA_INBOUND_SHARDS=3)
    check_shard_count(rds, Keys(prefix), 3)  # what the web process does at its start: the streams are empty now
    worker("c0", 3, "0")
    worker("c12", 3, "1,2")
    with serve(config3) as client:
        _send(client, config3, phones, 3, 12, sent)
        wait_until(lambda: drained(3) and len(odoo.items("ingest_messages")) == 120, timeout=60)
    assert rds.hget(Keys(prefix).shards, "count") == b"3"
    assert_each_customer_in_order_once(odoo, sent)


def test_dead_letters_are_capped_and_health_alerts_before_any_is_dropped(make_config, rds, prefix):
    config = make_config(WA_DEAD_LETTERS_MAX=100)
    streams = Streams.of(config, rds)
    for n in range(1000):
        streams.dead_letter(contract.STREAM_IN, "unreadable", {"n": n})
    assert 90 <= rds.xlen(f"{prefix}wa:dead") < 300  # approximate trimming: whole nodes of ~100
    with serve(config) as client:
        health = client.get("/health")
    assert health.status_code == 503
    (alert,) = [a for a in health.json()["alerts"] if a["source"] == "dead_letters"]
    assert "WA_DEAD_LETTERS_MAX" in alert["reason"]


def test_the_control_stream_is_trimmed_once_every_group_acked(rds, prefix):
    streams = Streams(rds, prefix)
    for group in ("g1", "g2"):
        streams.ensure_group(contract.STREAM_CONTROL, group)
    for n in range(500):
        streams.add(contract.STREAM_CONTROL, {"n": n})
    for group in ("g1", "g2"):
        entries = streams.read_new(contract.STREAM_CONTROL, group, "c", 500, None)
        streams.ack(contract.STREAM_CONTROL, group, [e.id for e in entries[:400]], delete=False)
    # everything below the oldest entry still pending in a group is gone (to a node boundary)
    assert 100 <= rds.xlen(f"{prefix}wa:control") <= 200
    assert redis.Redis.from_url(REDIS_URL).xpending(f"{prefix}wa:control", "g1")["pending"] == 100


def test_trimming_survives_the_other_group_acking_in_between(rds, prefix):
    """The session and the template workers both read ``wa:control``; one acks while the other trims.
    Seen in the demo: a Start pressed in Odoo crashed the template worker (so the whole bridge) when
    the session group's pending entry was acked between ``XINFO GROUPS`` and ``XPENDING``."""
    streams = Streams(rds, prefix)
    for group in ("session", "templates"):
        streams.ensure_group(contract.STREAM_CONTROL, group)
    streams.add(contract.STREAM_CONTROL, {"command": "start"})
    session = streams.read_new(contract.STREAM_CONTROL, "session", "c", 10, None)
    templates = streams.read_new(contract.STREAM_CONTROL, "templates", "c", 10, None)
    real_xinfo_groups = rds.xinfo_groups

    def groups_then_the_session_acks(name):
        seen = real_xinfo_groups(name)  # still says the session group has one pending entry
        rds.xack(name, "session", session[0].id)
        return seen

    rds.xinfo_groups = groups_then_the_session_acks
    try:
        assert streams.ack(contract.STREAM_CONTROL, "templates", [templates[0].id], delete=False) == 1
    finally:
        rds.xinfo_groups = real_xinfo_groups
    assert rds.xpending(f"{prefix}wa:control", "session")["pending"] == 0


def test_odoo_pushes_each_outbound_job_to_its_recipients_shard(rds, prefix):
    """The addon's own push function (``whatsapp_attendance/tools/redis_queue.py``), loaded without Odoo."""
    queue = _redis_queue()
    job = {"v": 1, "message_id": 1, "account": ACCOUNT, "type": "text", "text": "hi"}
    a, b = customers(2)
    queue.push(REDIS_URL, prefix, contract.STREAM_OUT, [dict(job, to={"wa_id": a})])
    assert rds.xlen(f"{prefix}wa:out") == 1  # no shard count recorded: one stream, as before
    rds.delete(f"{prefix}wa:out")
    check_shard_count(rds, Keys(prefix), 2)
    queue.push(REDIS_URL, prefix, contract.STREAM_OUT, [dict(job, message_id=n, to={"wa_id": p})
                                                        for n, p in enumerate([a, b, a], 1)])
    for phone, count in ((a, 2), (b, 1)):
        shard = contract.shard_index(contract.route_key(phone), 2)
        assert rds.xlen(contract.shard_stream(contract.STREAM_OUT, prefix, shard, 2)) == count


def _redis_queue():
    import importlib.util
    import types

    package = types.ModuleType("wa_addon_stub")
    package.__path__ = []
    package.contract = contract._contract
    sys.modules["wa_addon_stub"] = package
    sys.modules["wa_addon_stub.tools"] = types.ModuleType("wa_addon_stub.tools")
    sys.modules["wa_addon_stub.tools"].__path__ = []
    path = ROOT / "whatsapp_attendance" / "tools" / "redis_queue.py"
    spec = importlib.util.spec_from_file_location("wa_addon_stub.tools.redis_queue", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_entries_written_to_the_former_shard_count_after_the_switch_are_moved_to_their_shards(rds, prefix):
    """A producer that read the shard count just before it changed wrote to a stream nobody reads now:
    ``/health`` names it and ``python -m whatsapp_bridge shards --move-former`` routes its entries again."""
    from whatsapp_bridge.sharding import former_streams, move_former

    keys = Keys(prefix)
    check_shard_count(rds, keys, 2)  # from one shard (no record) to two
    a, b = customers(2)
    rds.xadd(f"{prefix}wa:in", {"payload": json.dumps(webhook("wamid.late", a, 100))})
    job = {"v": 1, "message_id": 9, "account": ACCOUNT, "to": {"wa_id": b}, "type": "text", "text": "hi"}
    rds.xadd(f"{prefix}wa:out", {"payload": json.dumps(job)})
    assert former_streams(rds, keys) == (1, [f"{prefix}wa:in", f"{prefix}wa:out"])
    env = dict(os.environ, WA_STREAM_PREFIX=prefix, WA_REDIS_URL=REDIS_URL, WA_ODOO_URL="http://127.0.0.1:9",
               WA_ODOO_DB="x", WA_ODOO_LOGIN="x", WA_ODOO_API_KEY="x", WA_INBOUND_SHARDS="2")
    done = subprocess.run([sys.executable, "-m", "whatsapp_bridge", "shards", "--env-file", "/nonexistent",
                           "--move-former"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "moved 2 entries" in done.stdout
    shard_a = contract.shard_index(contract.route_key(a), 2)
    shard_b = contract.shard_index(contract.route_key(b), 2)
    assert [senders(x) for x in streams_of(rds, prefix, 2)[f"{prefix}wa:in:{shard_a}/2"]] == [[a]]
    assert rds.xlen(f"{prefix}wa:out:{shard_b}/2") == 1
    assert former_streams(rds, keys) == (1, []) and move_former(rds, keys) == 0


def test_outbound_shards_each_send_their_recipients_jobs_in_order(make_config, rds, prefix, odoo, simulator):
    """Odoo's push routes each reply to its recipient's shard of ``wa:out``; the worker of each shard sends
    its recipients' replies, in order, and nobody else's."""
    from whatsapp_bridge.odoo_client import OdooClient
    from whatsapp_bridge.outbound import OutboundWorker
    from whatsapp_bridge.providers.cloud_api import CloudApiProvider

    from .test_outbound import job

    sim = simulator.state.simulator
    phones = customers(4)
    for phone in phones:
        sim.ensure_customer(phone)
        sim.customer_send(phone, {"type": "text", "text": "oi"})  # inside the 24-hour window
    check_shard_count(rds, Keys(prefix), 2)
    config = make_config(WA_INBOUND_SHARDS=2)
    jobs = [job(n, text=f"reply {n}", to=phones[n % 4]) for n in range(1, 21)]
    _redis_queue().push(REDIS_URL, prefix, contract.STREAM_OUT, jobs)
    workers = [OutboundWorker(config, redis.Redis.from_url(REDIS_URL), OdooClient(config), CloudApiProvider(config),
                              threading.Event(), shard=i) for i in range(2)]
    shard_of = {p: contract.shard_index(contract.route_key(p), 2) for p in phones}
    assert set(shard_of.values()) == {0, 1}
    for worker in workers:
        worker.setup()
        while worker.run_once(block_ms=100):
            pass
        reported = {r["message_id"] for r in odoo.items("report_send_results")}
        # this shard's recipients are all served, the other shard's not yet
        assert reported == {j["message_id"] for j in jobs if shard_of[j["to"]["wa_id"]] <= worker.shard}
    assert all(r["state"] == "sent" for r in odoo.items("report_send_results"))
    for phone in phones:
        texts = [m.content["text"]["body"] for m in sim.customer(phone).messages if m.direction == "out"]
        assert texts == [j["text"] for j in jobs if j["to"]["wa_id"] == phone]
    assert all(rds.xlen(contract.shard_stream(contract.STREAM_OUT, prefix, i, 2)) == 0 for i in range(2))
