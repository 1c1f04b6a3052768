"""Appending outbound jobs and session commands to the bridge's Redis streams.

Used only after the transaction that wrote the jobs has committed (see
``whatsapp.message._push_to_bridge``): Redis is never written from inside a
user's transaction, and a failure here only delays the job, which the re-push
cron sends again. Connections are pooled per URL, like Odoo pools database
connections, with short timeouts so a Redis outage never hangs a request.
"""

import json
import logging
import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .. import contract

_logger = logging.getLogger(__name__)
_clients = {}
_lock = threading.Lock()

SOCKET_TIMEOUT = 2.0
STREAM_MAXLEN = 1_000_000


def get_client(url):
    with _lock:
        client = _clients.get(url)
        if client is None:
            # one immediate retry (a pooled connection gone stale across a Redis restart), no
            # backoff: this runs in an attendant's request (after commit) and in the cron, and a
            # failed push is simply left to the re-push cron, it must not make the user wait
            client = redis.Redis.from_url(
                url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT,
                health_check_interval=30, retry=Retry(NoBackoff(), 1),
            )
            _clients[url] = client
        return client


def shard_count(client, prefix):
    """The bridge's shard count (``contract.SHARDS_KEY``, written by the bridge at start; none: 1)."""
    raw = client.hget(prefix + contract.SHARDS_KEY, "count")
    try:
        return max(1, int(raw)) if raw else 1
    except ValueError:
        return 1


def push(url, prefix, base_stream, payloads):
    """XADD every payload to ``prefix + base_stream`` (an outbound job: to its recipient's shard of
    ``wa:out``, read at every push so a resharding is followed at once); return how many were written.

    Raises ``redis.RedisError`` when Redis cannot be reached.
    """
    if not payloads:
        return 0
    client = get_client(url)
    count = shard_count(client, prefix) if base_stream == contract.STREAM_OUT else 1
    pipe = client.pipeline(transaction=False)
    for payload in payloads:
        index = contract.shard_index(contract.outbound_route_key(payload), count) if count > 1 else 0
        stream = contract.shard_stream(base_stream, prefix, index, count)
        pipe.xadd(stream, {contract.PAYLOAD_FIELD: json.dumps(payload, separators=(",", ":"))},
                  maxlen=STREAM_MAXLEN, approximate=True)
    pipe.execute()
    return len(payloads)
