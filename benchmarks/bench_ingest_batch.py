"""In-process cost of the batched ingest path next to Odoo's own ``message_post``, in one run.

Opens the given database (with whatsapp_attendance installed) in this process, in one transaction
that is rolled back at the end (nothing is kept), and prepares ``--customers`` customers, each with
an open service attended by one attendant. Then, alternating for ``--rounds`` rounds:

* reference: Odoo's own ``discuss.channel.message_post`` of the same text, as a non-member author,
  into an existing Discuss channel (``channel_type`` 'channel') with the attendant as member, one
  message at a time, as the per-message ingest path posted each inbound message;
* batched: ``whatsapp.api.ingest_messages`` (as the bridge user) of ``--batch-size`` new text
  messages spread over the customers.

Each measured unit includes what its commit would do (flush of the ORM, the bus rows written at
pre-commit). Prints ``name=value`` lines: milliseconds per message (median of the rounds) for both,
their ratio (target ≤ 0.5), and the queries per batch and per message. ``--profile`` prints the
functions where the batched path spends its time (cProfile, cumulative).

    python3 benchmarks/bench_ingest_batch.py -c /tmp/odoo.conf -d <database> [--batch-size 250]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
import uuid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", required=True, help="Odoo configuration file")
    parser.add_argument("-d", "--database", required=True, help="a database with whatsapp_attendance")
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one batch")
    args = parser.parse_args()

    from markupsafe import Markup

    import odoo

    odoo.tools.config.parse_config(["-c", args.config, "-d", args.database, "--log-level=warn"])
    registry = odoo.modules.registry.Registry(args.database)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        run = uuid.uuid4().hex[:8]
        account = env["whatsapp.account"].create({"name": f"Bench {run}", "phone_number_id": f"bench-{run}"})
        attendant = env["res.users"].create({
            "login": f"bench-{run}", "name": "Bench Attendant",
            "groups_id": [odoo.Command.set([env.ref("base.group_user").id,
                                            env.ref("whatsapp_attendance.group_whatsapp_attendant").id])]})
        bridge = env.ref("whatsapp_attendance.user_whatsapp_bridge")
        api = env["whatsapp.api"].with_user(bridge)
        counter = 0

        def item(customer):
            nonlocal counter
            counter += 1
            return {"v": 1, "account": account.phone_number_id, "wamid": f"wamid.bench.{run}.{counter}",
                    "timestamp": int(time.time()), "type": "text", "text": f"benchmark message {counter}",
                    "from": {"wa_id": str(5511900000000 + customer), "name": f"Bench {customer}"}}

        def commit_work():
            env.flush_all()
            cr.precommit.run()  # the bus notifications, as a commit writes them
            env.invalidate_all()

        api.ingest_messages([item(c) for c in range(args.customers)])  # contacts and services
        services = env["whatsapp.service"].search([("account_id", "=", account.id)])
        for service in services:
            service.with_user(attendant).action_take()
        partners = services.partner_id
        reference_channel = env["discuss.channel"].create({"name": f"Bench {run}", "channel_type": "channel"})
        reference_channel.add_members(partner_ids=attendant.partner_id.ids, post_joined_message=False)
        reference_channel = reference_channel.with_user(bridge).sudo()
        commit_work()

        def reference(size):
            for i in range(size):
                reference_channel.message_post(
                    body=Markup("<p>benchmark message %s</p>") % i, author_id=partners[i % len(partners)].id,
                    message_type="comment", subtype_xmlid="mail.mt_comment")
            commit_work()

        def batched(size):
            api.ingest_messages([item(i % args.customers) for i in range(size)])
            commit_work()

        def measure(function, size):
            start_queries = cr.sql_log_count
            start = time.perf_counter()
            function(size)
            return (time.perf_counter() - start) * 1000 / size, (cr.sql_log_count - start_queries)

        reference(20)  # warm-up: caches, translations, parameters
        batched(args.batch_size)
        reference_ms, batched_ms, reference_queries, batched_queries = [], [], [], []
        for _round in range(args.rounds):
            ms, queries = measure(reference, args.batch_size)
            reference_ms.append(ms)
            reference_queries.append(queries)
            ms, queries = measure(batched, args.batch_size)
            batched_ms.append(ms)
            batched_queries.append(queries)
        figures = {
            "batch_size": args.batch_size,
            "customers": args.customers,
            "rounds": args.rounds,
            "message_post_ms_per_message": statistics.median(reference_ms),
            "ingest_batch_ms_per_message": statistics.median(batched_ms),
            "ratio_ingest_to_message_post": statistics.median(batched_ms) / statistics.median(reference_ms),
            "message_post_queries_per_message": statistics.median(reference_queries) / args.batch_size,
            "ingest_batch_queries_per_batch": statistics.median(batched_queries),
            "ingest_batch_queries_per_message": statistics.median(batched_queries) / args.batch_size,
            "ingest_batch_messages_per_s": 1000 / statistics.median(batched_ms),
        }
        for name, value in figures.items():
            print(f"{name}={value:.3f}" if isinstance(value, float) else f"{name}={value}")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            batched(args.batch_size)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
            print(out.getvalue(), file=sys.stderr)
        cr.rollback()
    return 0


if __name__ == "__main__":
    sys.exit(main())
