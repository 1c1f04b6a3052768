import base64
import logging
from datetime import datetime, timezone

from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError
from odoo.tools import SQL

from .. import contract
from ..tools.phone import to_e164, whatsapp_variants

_logger = logging.getLogger(__name__)


class WhatsappApi(models.AbstractModel):
    """The JSON-RPC API of the bridge and of integrators (see ``contract.py`` and docs/api.md).

    Called through ``execute_kw`` with the API key of a user of the *WhatsApp
    Bridge* group. Every method validates its whole batch first: a bad item
    fails the call with a ValidationError naming the item and field, and
    nothing is written. A valid batch is written in the call's transaction.
    Replaying a batch changes nothing and returns the same ids.
    """

    _name = 'whatsapp.api'
    _description = "WhatsApp Bridge API"

    def _check_bridge_access(self):
        if not (self.env.su or self.env.user.has_group('whatsapp_attendance.group_whatsapp_bridge')):
            raise AccessError(self.env._("Only users of the WhatsApp Bridge group may call the WhatsApp API."))
        # sudo: the bridge acts for customers (contacts, channels, messages) after the checks above
        return self.sudo()

    @api.model
    def _validate(self, items, name, validator):
        try:
            return contract.validate_batch(items, name, validator)
        except contract.ContractError as error:
            raise ValidationError(str(error)) from None

    @api.model
    def _accounts_for(self, items, name):
        """``{key: whatsapp.account}`` for every ``account`` of the batch; an unknown key is an error."""
        keys = {item['account'] for item in items}
        accounts = self.env['whatsapp.account'].search([('phone_number_id', 'in', list(keys))])
        by_key = {account.phone_number_id: account for account in accounts}
        for index, item in enumerate(items):
            if item['account'] not in by_key:
                path = f"{name}[{index}].account"
                raise ValidationError(self.env._("%(path)s: unknown WhatsApp account %(key)r",
                                                 path=path, key=item['account']))
        return by_key

    # ------------------------------------------------------------------
    # Inbound messages
    # ------------------------------------------------------------------

    @api.model
    def contract_info(self):
        self._check_bridge_access()
        return contract.contract_info()

    @api.model
    def ingest_messages(self, messages):
        """Store inbound WhatsApp messages; return ``[{wamid, message_id, service_id, partner_id, duplicate}]``."""
        this = self._check_bridge_access()
        accounts, known = this._accept_messages(messages, contract.validate_inbound_message)
        new = []  # the new messages, in order: (index, item, account)
        for index, item in enumerate(messages):
            key = (accounts[item['account']].id, item['wamid'])
            if key not in known:
                known[key] = None  # the same message twice in one batch is stored once
                new.append((index, item, accounts[item['account']]))
        stored_now = this._ingest_batch(new)
        for index, item, account in new:
            known[(account.id, item['wamid'])] = stored_now[index]
        return [this._message_result(known[(accounts[item['account']].id, item['wamid'])],
                                     duplicate=index not in stored_now)
                for index, item in enumerate(messages)]

    def _accept_messages(self, messages, validator):
        """Validate a batch of messages (``validator`` of the contract, then each file's base64),
        serialise with concurrent calls for the same customers, and find what is already stored:
        ``(accounts, {(account id, wamid): whatsapp.message})`` — replays, or a concurrent call
        that just committed them."""
        self._validate(messages, 'messages', validator)
        accounts = self._accounts_for(messages, 'messages')
        for index, item in enumerate(messages):
            if item['type'] in contract.MEDIA_TYPES:
                try:
                    base64.b64decode(item['media']['data'], validate=True)
                except ValueError:
                    path = f"messages[{index}].media.data"
                    raise ValidationError(self.env._("%(path)s: not valid base64", path=path)) from None
        self._lock_customers(messages)
        stored = self.env['whatsapp.message'].search([
            ('account_id', 'in', [a.id for a in accounts.values()]),
            ('wamid', 'in', [item['wamid'] for item in messages])])
        return accounts, {(m.account_id.id, m.wamid): m for m in stored}

    def init(self):
        # One row per customer identity (phone number, WhatsApp user id): the row lock that
        # serialises concurrent ingestion of one customer (see _lock_customers).
        self.env.cr.execute(SQL(
            "CREATE TABLE IF NOT EXISTS whatsapp_ingest_lock (key varchar PRIMARY KEY, locked_at timestamp)"))

    def _lock_customers(self, messages):
        """Serialise this call with any concurrent one ingesting the same customers.

        A customer is named by their phone number (any of its WhatsApp variants) and/or their
        business-scoped user id, and one delivery may name the same person both ways. Each name
        is a row of ``whatsapp_ingest_lock``, upserted in sorted order (no deadlock). A second
        transaction waits for the first; when the first commits, PostgreSQL fails the second's
        upsert with a serialization error (under Odoo's REPEATABLE READ the row changed after
        its snapshot), and Odoo replays the call on a fresh snapshot that sees the contact and
        the service the first one created. An advisory lock would not do: the waiting
        transaction keeps its old snapshot and creates a second contact.
        """
        keys = set()
        for item in messages:
            sender = item['from']
            if sender.get('user_id'):
                keys.add(f"user:{sender['user_id']}")
            for variant in whatsapp_variants(to_e164(sender['wa_id']) if sender.get('wa_id') else False):
                keys.add(f"phone:{variant}")
        self.env.cr.execute(SQL(
            "INSERT INTO whatsapp_ingest_lock (key, locked_at) "
            "SELECT key, now() AT TIME ZONE 'UTC' FROM unnest(%s::varchar[]) WITH ORDINALITY AS k(key, n) ORDER BY n "
            "ON CONFLICT (key) DO UPDATE SET locked_at = EXCLUDED.locked_at", sorted(keys)))

    def _ingest_batch(self, new):
        """Store the new inbound messages ``new`` (``[(index, item, account)]``, in order); return
        ``{index: whatsapp.message}``.

        A number change renames the contact: what follows it is resolved afterwards (a message
        from the new number finds the renamed contact, as one call per message did)."""
        stored = {}
        start = 0
        for position, (_index, item, _account) in enumerate(new):
            if item['type'] == 'system':
                stored.update(self._ingest_segment(new[start:position + 1]))
                start = position + 1
        stored.update(self._ingest_segment(new[start:]))
        return stored

    def _ingest_segment(self, new):
        """Store the new inbound messages ``new`` (as ``_ingest_batch``, no number change but the last).

        The contacts of the whole segment are found (or created) at once, their open services with
        one search; then the messages are stored in groups (``whatsapp.service._receive_many``:
        a constant number of queries per group and per channel). A group ends where a message
        changes the service (a finish keyword, a rating reply) and before a message that needs
        what the group holds stored (a reply or a reaction to one of its messages, a number
        change). Then, in order, each message of the group finishes or rates its service, or goes
        to ``_whatsapp_on_inbound``.
        """
        Service = self.env['whatsapp.service']
        senders = {}
        for _index, item, account in new:
            sender = item['from']
            senders.setdefault((account.id, sender.get('user_id'), sender.get('wa_id')), sender)
        partners = dict(zip(senders, self.env['res.partner']._whatsapp_find_or_create_many(
            [{'wa_id': s.get('wa_id'), 'user_id': s.get('user_id'), 'name': s.get('name')} for s in senders.values()]),
            strict=True))
        services = {}  # (account, partner) -> its open service
        if partners:
            for service in Service.search([('partner_id', 'in', [p.id for p in partners.values()]),
                                           ('account_id', 'in', list({key[0] for key in senders})),
                                           ('state', '!=', 'done')]):
                services[(service.account_id.id, service.partner_id.id)] = service
        finish_keywords = Service._finish_keywords()
        stored = {}
        group = []  # [(index, item, partner, service, after)]: after = (kind, value) once stored

        def flush():
            if not group:
                return
            messages = Service._receive_many([(service, item, partner) for _i, item, partner, service, _a in group])
            for (index, item, _partner, service, (kind, value)), message in zip(group, messages, strict=True):
                stored[index] = message
                if kind == 'rating':
                    token, score = contract.parse_rating_button_id(item['interactive']['id'])
                    value._apply_rating_button(token, score)
                elif kind == 'finish':
                    service._finish('customer')
                else:
                    service._whatsapp_on_inbound(message, new_service=value)
            group.clear()

        for index, item, account in new:
            sender = item['from']
            partner = partners[(account.id, sender.get('user_id'), sender.get('wa_id'))]
            referred = (item.get('context') or {}).get('wamid') or (item.get('reaction') or {}).get('wamid')
            in_group = bool(referred) and any(g[1]['wamid'] == referred and g[3].account_id == account for g in group)
            if item['type'] == 'system' or in_group:
                flush()
            rated_service = self._rating_reply_service(item, partner)
            new_service = False
            if rated_service:
                service = rated_service
            else:
                service = services.get((account.id, partner.id))
                if service and service.state == 'done':
                    # a finish keyword earlier in this batch closed the service: the next message opens one
                    service = Service.search([('partner_id', '=', partner.id), ('account_id', '=', account.id),
                                              ('state', '!=', 'done')], limit=1)
                if not service:
                    service = Service.create({'partner_id': partner.id, 'account_id': account.id})
                    new_service = True
                services[(account.id, partner.id)] = service
            if item['type'] == 'system':
                self._apply_system_change(item, partner)
            if rated_service:
                group.append((index, item, partner, service, ('rating', rated_service)))
            elif item['type'] == 'text' and item['text'].strip().lower() in finish_keywords:
                group.append((index, item, partner, service, ('finish', None)))
            else:
                group.append((index, item, partner, service, ('inbound', new_service)))
            if group[-1][4][0] != 'inbound':
                flush()
        flush()
        return stored

    def _rating_reply_service(self, item, partner):
        """The service a rating reply button belongs to, whenever the request was sent."""
        if item['type'] != 'interactive':
            return self.env['whatsapp.service']
        parsed = contract.parse_rating_button_id(item['interactive']['id'])
        if not parsed:
            return self.env['whatsapp.service']
        rating = self.env['rating.rating'].search([
            ('access_token', '=', parsed[0]), ('res_model', '=', 'whatsapp.service'),
            ('partner_id', '=', partner.id)], limit=1)
        return self.env['whatsapp.service'].browse(rating.res_id).exists()

    def _apply_system_change(self, item, partner):
        new_wa_id = (item.get('system') or {}).get('new_wa_id')
        if new_wa_id:
            partner.whatsapp_phone = to_e164(new_wa_id) or partner.whatsapp_phone

    @staticmethod
    def _message_result(message, duplicate=False):
        return {
            'wamid': message.wamid,
            'message_id': message.id,
            'service_id': message.service_id.id,
            'partner_id': message.partner_id.id,
            'duplicate': duplicate,
        }

    # ------------------------------------------------------------------
    # Statuses and send results
    # ------------------------------------------------------------------

    @api.model
    def ingest_statuses(self, statuses):
        """Apply delivery statuses; return ``[{wamid, message_id, result}]`` (applied, ignored, unknown)."""
        this = self._check_bridge_access()
        this._validate(statuses, 'statuses', contract.validate_status)
        accounts = this._accounts_for(statuses, 'statuses')
        results = []
        for item in statuses:
            message = this.env['whatsapp.message'].search([
                ('account_id', '=', accounts[item['account']].id), ('wamid', '=', item['wamid']),
                ('direction', '=', 'outbound')], limit=1)
            if not message:
                results.append({'wamid': item['wamid'], 'message_id': False, 'result': 'unknown'})
                continue
            when = datetime.fromtimestamp(item['timestamp'], timezone.utc).replace(tzinfo=None)
            result = message._apply_status(item['status'], when=when, error=item.get('error'))
            results.append({'wamid': item['wamid'], 'message_id': message.id, 'result': result})
        return results

    @api.model
    def report_send_results(self, results):
        """Record what the bridge got from WhatsApp for outbound jobs; return ``[{message_id, state}]``."""
        this = self._check_bridge_access()
        this._validate(results, 'results', contract.validate_send_result)
        messages = this.env['whatsapp.message'].browse([r['message_id'] for r in results]).exists()
        known = {m.id: m for m in messages if m.direction == 'outbound'}
        for index, item in enumerate(results):
            if item['message_id'] not in known:
                path = f"results[{index}].message_id"
                raise ValidationError(self.env._("%(path)s: no outbound WhatsApp message with id %(id)s",
                                                 path=path, id=item['message_id']))
            if item.get('wamid'):
                other = this.env['whatsapp.message'].search([
                    ('account_id', '=', known[item['message_id']].account_id.id), ('wamid', '=', item['wamid']),
                    ('id', '!=', item['message_id'])], limit=1)
                if other:
                    path = f"results[{index}].wamid"
                    raise ValidationError(self.env._(
                        "%(path)s: WhatsApp message id %(wamid)s already belongs to message %(id)s",
                        path=path, wamid=item['wamid'], id=other.id))
        answer = []
        for item in results:
            message = known[item['message_id']]
            if item['state'] == 'sent':
                if not message.wamid:
                    message.wamid = item['wamid']
                message._apply_status('sent')
            else:
                message._apply_status('failed', error=item.get('error'))
            answer.append({'message_id': message.id, 'state': message.state})
        return answer

    # ------------------------------------------------------------------
    # Session and attachments
    # ------------------------------------------------------------------

    @api.model
    def report_session_state(self, report):
        """Store the WhatsApp Web session state (and QR code while pairing); return ``{account_id, state}``."""
        this = self._check_bridge_access()
        try:
            contract.validate_session_state(report)
        except contract.ContractError as error:
            raise ValidationError(str(error)) from None
        account = this._accounts_for([report], 'session')[report['account']]
        account._apply_session_state(report['state'], qr=report.get('qr'), detail=report.get('detail'),
                                     pair_code=report.get('pair_code'), connected_since=report.get('connected_since'),
                                     phone=report.get('phone'))
        return {'account_id': account.id, 'state': account.session_state}

    @api.model
    def ingest_contacts(self, contacts):
        """The paired phone's contacts (feature ``session``): each is matched with the existing contacts by
        normalised number, never duplicated.  Returns ``[{phone, partner_id, result}]`` with result ``matched``
        (one contact has the number), ``new`` (created) or ``ambiguous`` (several have it: nothing touched);
        the counts are stored on the account."""
        this = self._check_bridge_access()
        this._validate(contacts, 'contacts', contract.validate_session_contact)
        accounts = this._accounts_for(contacts, 'contacts')
        Partner = this.env['res.partner'].with_context(active_test=False)
        counts = {}
        results = []
        for item in contacts:
            e164 = to_e164(item['phone'])
            partners = Partner.browse()
            if e164:
                variants = whatsapp_variants(e164)
                partners = Partner.search(['|', '|', ('whatsapp_phone', 'in', variants),
                                           ('mobile_e164', 'in', variants), ('phone_e164', 'in', variants)])
            if len(partners) > 1:
                result, partner = 'ambiguous', Partner.browse()
            elif partners:
                result, partner = 'matched', partners
                if not partner.whatsapp_phone and e164:
                    partner.whatsapp_phone = e164
            else:
                result = 'new'
                partner = Partner._whatsapp_find_or_create(wa_id=item['phone'], name=item.get('name'))
            account = accounts[item['account']]
            tally = counts.setdefault(account, {'matched': 0, 'new': 0, 'ambiguous': 0})
            tally[result] += 1
            results.append({'phone': item['phone'], 'partner_id': partner.id or False, 'result': result})
        for account, tally in counts.items():
            account.write({'contacts_matched': tally['matched'], 'contacts_new': tally['new'],
                           'contacts_ambiguous': tally['ambiguous'], 'contacts_synced_at': fields.Datetime.now()})
            account._notify_session()
        return results

    # ------------------------------------------------------------------
    # The phone's own messages (feature "history")
    # ------------------------------------------------------------------

    @api.model
    def ingest_history(self, messages):
        """The recent history of the paired phone's chats: each customer's messages land in a *past* service
        (done, read-only, nobody notified, no rating request, not in the queue), the customer matched by
        normalised number. Replaying imports nothing twice. Returns what ``ingest_messages`` returns."""
        this = self._check_bridge_access()
        known, results, todo = this._prepare_phone_messages(messages)
        chats = {}
        for index, item, account, partner in todo:
            chats.setdefault((account, partner), []).append((index, item))
        Service = this.env['whatsapp.service']
        for (account, partner), group in chats.items():
            group.sort(key=lambda pair: (pair[1]['timestamp'], pair[0]))
            first, last = (datetime.fromtimestamp(group[i][1]['timestamp'], timezone.utc).replace(tzinfo=None)
                           for i in (0, -1))
            # one past service per customer: a later chunk of WhatsApp's history sync adds to it
            service = Service.search([('partner_id', '=', partner.id), ('account_id', '=', account.id),
                                      ('end_reason', '=', 'phone')], order='id desc', limit=1)
            if service:
                service.write({'opened_at': min(service.opened_at, first), 'closed_at': max(service.closed_at, last)})
            else:
                service = Service.create({'partner_id': partner.id, 'account_id': account.id, 'state': 'done',
                                          'end_reason': 'phone', 'opened_at': first, 'closed_at': last,
                                          'last_interaction_at': last})
            for index, item in group:
                results[index] = this._message_result(service._record_phone_message(item, partner))
        return this._phone_results(results, known)

    @api.model
    def ingest_phone_messages(self, messages):
        """Messages the business sent from the phone itself (``from_me``): each appears in the customer's
        current conversation (the open service, else the last one) as the business's, already sent: it is
        never sent to WhatsApp again, and nobody is notified. Returns what ``ingest_messages`` returns."""
        this = self._check_bridge_access()
        for index, item in enumerate(messages if isinstance(messages, list) else ()):
            if isinstance(item, dict) and item.get('from_me') is False:
                raise ValidationError(self.env._("messages[%(index)s].from_me: a message the phone sent must say "
                                                 "from_me: true", index=index))
        known, results, todo = this._prepare_phone_messages(messages)
        Service = this.env['whatsapp.service']
        for index, item, account, partner in todo:
            service = Service.search([('partner_id', '=', partner.id), ('account_id', '=', account.id)],
                                     order='id desc', limit=1)
            if not service:
                when = datetime.fromtimestamp(item['timestamp'], timezone.utc).replace(tzinfo=None)
                service = Service.create({'partner_id': partner.id, 'account_id': account.id, 'state': 'done',
                                          'end_reason': 'phone', 'opened_at': when, 'closed_at': when,
                                          'last_interaction_at': when})
            results[index] = this._message_result(service._record_phone_message(item, partner))
            if service.state == 'done':
                service._unpin_finished()  # a finished conversation stays out of the sidebar
            else:
                service.last_interaction_at = fields.Datetime.now()
        return this._phone_results(results, known)

    def _prepare_phone_messages(self, messages):
        """Validate a batch of HistoryMessages and find their customers: ``(known, results, todo)`` where
        ``known[i]`` is the message already stored for item ``i`` (or the index of the same wamid earlier in
        the batch), ``results`` is to fill, and ``todo`` lists
        ``(index, item, account, partner)`` of the new ones (each wamid once)."""
        accounts, by_wamid = self._accept_messages(messages, contract.validate_history_message)
        known, todo, partners, seen = {}, [], {}, {}
        for index, item in enumerate(messages):
            account = accounts[item['account']]
            key = (account.id, item['wamid'])
            if key in by_wamid:
                known[index] = by_wamid[key]
                continue
            if key in seen:  # twice in one batch: the first one is stored
                known[index] = seen[key]  # its index
                continue
            sender = item['from']
            who = (sender.get('user_id'), sender.get('wa_id'))
            if who not in partners:
                partners[who] = self.env['res.partner']._whatsapp_find_or_create(
                    wa_id=sender.get('wa_id'), user_id=sender.get('user_id'),
                    name=None if item['from_me'] else sender.get('name'))
            seen[key] = index
            todo.append((index, item, account, partners[who]))
        return known, [None] * len(messages), todo

    def _phone_results(self, results, known):
        """The answer of a phone-messages call, in the order of the batch."""
        for index, first in known.items():
            if isinstance(first, int):  # the same wamid twice in the batch: the first one's message
                results[index] = dict(results[first], duplicate=True)
            else:
                results[index] = self._message_result(first, duplicate=True)
        return results

    @api.model
    def read_attachment(self, request):
        """The file of an outbound message: ``{message_id, filename, mimetype, data}`` (data in base64)."""
        this = self._check_bridge_access()
        try:
            contract.validate_attachment_request(request)
        except contract.ContractError as error:
            raise ValidationError(str(error)) from None
        message = this.env['whatsapp.message'].browse(request['message_id']).exists()
        if not message or message.direction != 'outbound' or not message.attachment_id:
            raise ValidationError(self.env._(
                "request.message_id: no outbound WhatsApp message with a file has id %(id)s", id=request['message_id']))
        attachment = message.attachment_id
        return {
            'message_id': message.id,
            'filename': attachment.name,
            'mimetype': attachment.mimetype,
            'data': attachment.datas.decode() if attachment.datas else '',
        }

    # ------------------------------------------------------------------
    # Templates
    # ------------------------------------------------------------------

    @api.model
    def report_template_states(self, states):
        """What WhatsApp says of templates (the answer to a submit, or a sync); return
        ``[{name, language, template_id, result}]`` (applied, ignored, unknown)."""
        this = self._check_bridge_access()
        this._validate(states, 'states', contract.validate_template_state)
        accounts = this._accounts_for(states, 'states')
        Template = this.env['whatsapp.template'].with_context(active_test=False)
        found = []
        for index, item in enumerate(states):
            account = accounts[item['account']]
            if item.get('template_id'):
                template = Template.browse(item['template_id']).exists()
                if not template or template.account_id != account or template.name != item['name'] \
                        or template.language != item['language']:
                    path = f"states[{index}].template_id"
                    raise ValidationError(self.env._(
                        "%(path)s: no template %(name)s (%(language)s) of this account has id %(id)s",
                        path=path, name=item['name'], language=item['language'], id=item['template_id']))
            else:
                template = Template.search([('account_id', '=', account.id), ('name', '=', item['name']),
                                            ('language', '=', item['language'])], limit=1)
            found.append(template)
        results = []
        for item, template in zip(states, found, strict=True):
            result = template._apply_template_state(item['status'], reason=item.get('reason'),
                                                    wa_template_id=item.get('wa_template_id')) \
                if template else 'unknown'
            results.append({'name': item['name'], 'language': item['language'],
                            'template_id': template.id or False, 'result': result})
        return results
