"""Every Redis key the bridge reads or writes, with the deployment's prefix (``WA_STREAM_PREFIX``).

Shards and Redis Cluster: ``wa:in`` and ``wa:out`` are split into ``WA_INBOUND_SHARDS`` streams
(``contract.shard_stream``: ``wa:in`` with one shard, ``wa:in:<i>/<N>`` with N).  Every key one
inbound shard's worker touches together carries the shard's stream name as a Redis Cluster hash tag
(``{<stream>}``, written ``{S}`` below), so a shard's stream, dedup keys, status retries, probe and lease
hash to one slot (``MGET`` of a batch's dedup keys, a ``MULTI`` on the stream): a cluster spreads
shards over its nodes, never one shard over several.  Keys of one message or one account (``sent``,
``alert``, ``session``...) are single-key operations and need no tag.

=================================  =========================================================  =========
key                                what                                                       kept
=================================  =========================================================  =========
``<p>wa:in`` / ``wa:out`` / ...    the streams (names from the contract, shared with Odoo)     trimmed by ack
``<p>wa:shards``                   hash: ``count`` the shard count in force, ``previous``     for ever
                                   (written at start, ``sharding.check_shard_count``)
``<p>wa:lease:{S}``                the consumer serving shard S (``sharding.ShardLease``)     15 s, renewed
``<p>wa:route:<account>:<uid>``    the phone number a business-scoped user id was seen with   90 days
                                   (routes that user's messages without a number)
``<p>wa:seen:{S}:<acct>:<wamid>``  an inbound message Odoo has committed (dedup)              3 days
                                                                                               (WA_DEDUP_TTL_SECONDS)
``<p>wa:retry:statuses:{S}``       sorted set: statuses Odoo did not know yet, by due time     until due
``<p>wa:probe:{S}:<method>``       the last payload Odoo took for ``ingest_<method>``          3 days
                                   (no media), replayed to ask whether Odoo ingests at all
``<p>wa:dead``                     dead letters, capped at ``WA_DEAD_LETTERS_MAX`` (approx.)   capped
``<p>wa:sent:<message_id>``        the wamid of an outbound message already sent              30 days
``<p>wa:sendfail:<message_id>``    the final failure of an outbound message                   30 days
``<p>wa:sendtry:<message_id>``     failed send attempts so far                                30 days
``<p>wa:alert:<name>``             an operator alert (JSON), shown by ``/health``             until cleared
``<p>wa:session:state``            hash: account key -> its WhatsApp Web session (JSON:       while served
                                   state, detail, connected_since, heartbeat), written by
                                   the session process; the outbound worker routes the jobs
                                   of these accounts to it
``<p>wa:session:rpc``              list: send requests of the outbound worker to the session  until read
                                   process (JSON)
``<p>wa:session:reply:<id>``       list: the session process's answer to one request          2 minutes
``<p>wa:session:media:<id>``       bytes of a WhatsApp Web media (inbound or to send)          1 day
``<p>wa:session:stopped:<acct>``   a Cloud API account stopped from Odoo (End): no sending    until Start
                                   and its inbound messages are set aside (``wa:dead``)
``<p>wa:session:odoo``             list: calls of the session process to Odoo still to make   until done
                                   (``ingest_history``, ``ingest_phone_messages``; JSON)
``<p>wa:fake:<account>``           list: scripted phone actions for the fake driver           until read
``<p>wa:fake:sent:<account>``      list: what the fake driver "sent" (JSON), for tests/demo   1 day
=================================  =========================================================  =========
"""

from __future__ import annotations

from whatsapp_bridge import contract

SEEN_TTL = 3 * 24 * 3600
SENT_TTL = 30 * 24 * 3600
ROUTE_TTL = 90 * 24 * 3600
# operator alerts, shown by /health: each holds a JSON {reason, code, since, action}
ALERT_NAMES = ("outbound", "odoo", "session")


class Keys:
    """The key names of one deployment (one prefix), as seen by shard ``index`` of ``count``."""

    def __init__(self, prefix: str = "", index: int = 0, count: int = 1):
        self.prefix = prefix
        self.index = index
        self.count = count

    def for_shard(self, index: int, count: int | None = None) -> Keys:
        return Keys(self.prefix, index, self.count if count is None else count)

    def stream(self, base: str) -> str:
        """``base`` of this deployment; ``wa:in`` and ``wa:out``: this shard's stream."""
        return contract.shard_stream(base, self.prefix, self.index, self.count)

    def shard_stream(self, base: str, index: int) -> str:
        return contract.shard_stream(base, self.prefix, index, self.count)

    @property
    def tag(self) -> str:
        """The Redis Cluster hash tag of this shard's inbound keys: its stream's name in braces."""
        return "{" + self.stream(contract.STREAM_IN) + "}"

    @property
    def shards(self) -> str:
        return f"{self.prefix}{contract.SHARDS_KEY}"

    def lease(self, base: str) -> str:
        return f"{self.prefix}wa:lease:{{{self.stream(base)}}}"

    def route(self, account: str, user_id: str) -> str:
        return f"{self.prefix}wa:route:{account}:{user_id}"

    def seen(self, account: str, wamid: str) -> str:
        return f"{self.prefix}wa:seen:{self.tag}:{account}:{wamid}"

    def probe(self, method: str) -> str:
        return f"{self.prefix}wa:probe:{self.tag}:{method}"

    @property
    def retry_statuses(self) -> str:
        return f"{self.prefix}wa:retry:statuses:{self.tag}"

    def sent(self, message_id: int) -> str:
        return f"{self.prefix}wa:sent:{message_id}"

    def send_failure(self, message_id: int) -> str:
        return f"{self.prefix}wa:sendfail:{message_id}"

    def send_tries(self, message_id: int) -> str:
        return f"{self.prefix}wa:sendtry:{message_id}"

    def alert(self, name: str) -> str:
        return f"{self.prefix}wa:alert:{name}"

    # -- WhatsApp Web sessions (the session process, see whatsapp_bridge/session) --------------------------
    @property
    def session_state(self) -> str:
        return f"{self.prefix}wa:session:state"

    @property
    def session_rpc(self) -> str:
        return f"{self.prefix}wa:session:rpc"

    def session_reply(self, request_id: str) -> str:
        return f"{self.prefix}wa:session:reply:{request_id}"

    def session_media(self, media_id: str) -> str:
        return f"{self.prefix}wa:session:media:{media_id}"

    def session_stopped(self, account: str) -> str:
        return f"{self.prefix}wa:session:stopped:{account}"

    @property
    def session_odoo(self) -> str:
        return f"{self.prefix}wa:session:odoo"

    def fake_phone(self, account: str) -> str:
        return f"{self.prefix}wa:fake:{account}"

    def fake_sent(self, account: str) -> str:
        return f"{self.prefix}wa:fake:sent:{account}"
