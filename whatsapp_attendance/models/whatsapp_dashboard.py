"""The supervisor's dashboard: every figure of a period computed in one call, with the exact
domain of the services behind it (the client action opens them on a click)."""
from datetime import date, datetime, time, timedelta

import pytz
from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

PERIODS = ('today', 'week', 'month', 'custom')
MAX_CUSTOM_DAYS = 366 * 2
SUPERVISOR_GROUP = 'whatsapp_attendance.group_whatsapp_supervisor'


class WhatsappService(models.Model):
    _inherit = 'whatsapp.service'

    # the dashboard, the reports and the lists filter and sort on these
    opened_at = fields.Datetime(index=True)
    closed_at = fields.Datetime(index=True)
    message_text = fields.Char(
        compute='_compute_message_text', search='_search_message_text',
        help="Search the services by the text of any of their WhatsApp messages.")

    def _compute_message_text(self):
        self.message_text = False

    def _search_message_text(self, operator, value):
        if operator not in ('ilike', 'not ilike', '=', '!=', 'like', '=ilike') or not isinstance(value, str):
            raise UserError(self.env._("Operation not supported"))
        positive = operator not in ('not ilike', '!=')
        operator = {'not ilike': 'ilike', '!=': '='}.get(operator, operator)
        domain = [('whatsapp_message_ids', 'any', [('body', operator, value)])]
        return domain if positive else ['!', *domain]

    # ------------------------------------------------------------------
    # Dashboard
    # ------------------------------------------------------------------

    @api.model
    def _dashboard_tz(self):
        """The company's timezone (its address), else the user's, else UTC."""
        name = self.env.company.partner_id.tz or self.env.user.tz or 'UTC'
        try:
            return pytz.timezone(name)
        except pytz.UnknownTimeZoneError:
            return pytz.utc

    @api.model
    def _dashboard_period(self, period, date_from=None, date_to=None):
        """(first day, last day) of the period, local dates, both included."""
        if period not in PERIODS:
            raise UserError(self.env._("Unknown period %(period)s.", period=period))
        today = datetime.now(self._dashboard_tz()).date()
        if period == 'today':
            return today, today
        if period == 'week':
            monday = today - timedelta(days=today.weekday())
            return monday, monday + timedelta(days=6)
        if period == 'month':
            first = today.replace(day=1)
            return first, first + relativedelta(months=1, days=-1)
        try:
            first, last = fields.Date.to_date(date_from), fields.Date.to_date(date_to)
        except ValueError:
            first = last = None
        if not first or not last:
            raise UserError(self.env._("Choose the first and the last day of the period."))
        if last < first:
            raise UserError(self.env._("The period ends before it starts."))
        if (last - first).days > MAX_CUSTOM_DAYS:
            raise UserError(self.env._("Choose a period of at most two years."))
        return first, last

    @api.model
    def _dashboard_utc(self, tz, day):
        """Local midnight of ``day`` as a naive UTC datetime."""
        return tz.localize(datetime.combine(day, time.min)).astimezone(pytz.utc).replace(tzinfo=None)

    @api.model
    def get_dashboard(self, period='today', date_from=None, date_to=None):
        """All the figures of the dashboard for ``period`` ('today', 'week', 'month', or 'custom'
        from ``date_from`` to ``date_to`` included), in the company's timezone.

        A service is *finished in the period* when it closed in it, *open in the period* when it
        was open at any moment of it (opened before its end, not closed before its start).
        Response times count the services opened in the period, handling times and ratings the
        services finished in it. Every figure comes with the domain of its services."""
        if not self.env.user.has_group(SUPERVISOR_GROUP):
            raise AccessError(self.env._("Only WhatsApp supervisors and administrators see the dashboard."))
        tz = self._dashboard_tz()
        first, last = self._dashboard_period(period, date_from, date_to)
        start, end = self._dashboard_utc(tz, first), self._dashboard_utc(tz, last + timedelta(days=1))
        now = fields.Datetime.now()
        cr = self.env.cr
        self.env['whatsapp.service'].flush_model()
        self.env['whatsapp.message'].flush_model()
        companies = self.env.companies.ids
        company_sql = SQL("(s.company_id IS NULL OR s.company_id = ANY(%s))", companies)
        company_domain = ['|', ('company_id', '=', False), ('company_id', 'in', companies)]
        s, e = fields.Datetime.to_string(start), fields.Datetime.to_string(end)
        d_open = [('opened_at', '<', e), '|', ('closed_at', '=', False), ('closed_at', '>=', s)]
        d_finished = [('state', '=', 'done'), ('closed_at', '>=', s), ('closed_at', '<', e)]
        d_opened = [('opened_at', '>=', s), ('opened_at', '<', e)]
        d_responded = d_opened + [('first_response_at', '!=', False)]
        d_rated = d_finished + [('rating_last_value', '>', 0)]
        # the queue: customers waiting for a person (those still answering the menu are apart)
        d_waiting = self.env['whatsapp.service']._whatsapp_queue_domain()
        d_in_menu = [('state', '=', 'waiting'), ('menu_id', '!=', False)]

        # open at any moment of the period: finished and opened in it are subsets
        in_period = SQL("s.opened_at < %(end)s AND (s.closed_at IS NULL OR s.closed_at >= %(start)s)",
                        start=start, end=end)
        finished = SQL("(s.state = 'done' AND s.closed_at >= %(start)s AND s.closed_at < %(end)s)",
                       start=start, end=end)
        opened = SQL("(s.opened_at >= %(start)s AND s.opened_at < %(end)s)", start=start, end=end)
        cr.execute(SQL("""
            SELECT count(*) AS open,
                   count(*) FILTER (WHERE %(finished)s) AS finished,
                   count(*) FILTER (WHERE %(opened)s) AS opened,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.first_response_at - s.opened_at))
                       FILTER (WHERE %(opened)s AND s.first_response_at IS NOT NULL) AS frt_median,
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM s.first_response_at - s.opened_at))
                       FILTER (WHERE %(opened)s AND s.first_response_at IS NOT NULL) AS frt_p90,
                   count(*) FILTER (WHERE %(opened)s AND s.first_response_at IS NOT NULL) AS responded,
                   avg(extract(epoch FROM s.closed_at - s.opened_at)) FILTER (WHERE %(finished)s) AS handling_avg,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.closed_at - s.opened_at))
                       FILTER (WHERE %(finished)s) AS handling_median,
                   avg(s.rating_last_value) FILTER (WHERE %(finished)s AND s.rating_last_value > 0) AS csat_avg,
                   count(*) FILTER (WHERE %(finished)s AND s.rating_last_value > 0) AS csat_count,
                   count(*) FILTER (WHERE %(finished)s AND s.rating_last_value >= 4) AS csat_happy,
                   count(*) FILTER (WHERE %(finished)s AND s.rating_last_value >= 3
                                    AND s.rating_last_value < 4) AS csat_neutral,
                   count(*) FILTER (WHERE %(finished)s AND s.rating_last_value > 0
                                    AND s.rating_last_value < 3) AS csat_unhappy,
                   count(*) FILTER (WHERE %(finished)s AND s.end_reason = 'attendant') AS end_attendant,
                   count(*) FILTER (WHERE %(finished)s AND s.end_reason = 'customer') AS end_customer,
                   count(*) FILTER (WHERE %(finished)s AND s.end_reason = 'timeout') AS end_timeout
              FROM whatsapp_service s
             WHERE %(in_period)s AND %(company)s
        """, finished=finished, opened=opened, in_period=in_period, company=company_sql))
        row = cr.dictfetchone()
        cr.execute(SQL("""
            SELECT count(*) FILTER (WHERE s.menu_id IS NULL) AS waiting,
                   min(s.opened_at) FILTER (WHERE s.menu_id IS NULL) AS oldest,
                   count(*) FILTER (WHERE s.menu_id IS NOT NULL) AS in_menu
              FROM whatsapp_service s WHERE s.state = 'waiting' AND %s
        """, company_sql))
        waiting = cr.dictfetchone()
        cr.execute(SQL("""
            SELECT count(*) FILTER (WHERE m.direction = 'inbound') AS inbound,
                   count(*) FILTER (WHERE m.direction = 'outbound') AS outbound
              FROM whatsapp_message m
             WHERE m.create_date >= %s AND m.create_date < %s
               AND m.account_id IN (SELECT a.id FROM whatsapp_account a
                                     WHERE a.company_id IS NULL OR a.company_id = ANY(%s))
        """, start, end, companies))
        messages = cr.dictfetchone()
        cr.execute(SQL("""
            SELECT s.user_id, count(*) FILTER (WHERE %s) AS finished, count(*) AS open
              FROM whatsapp_service s
             WHERE %s AND %s
          GROUP BY s.user_id
        """, finished, in_period, company_sql))
        per_user = cr.dictfetchall()

        def fig(value, domain):
            return {'value': value, 'domain': company_domain + domain}

        def share(count):
            return round(100.0 * count / row['csat_count'], 1) if row['csat_count'] else None

        def message_domain(direction):
            return [('whatsapp_message_ids', 'any', [
                ('direction', '=', direction), ('create_date', '>=', s), ('create_date', '<', e)])]

        oldest = waiting['oldest']
        figures = {
            'finished': fig(row['finished'], d_finished),
            'open': fig(row['open'], d_open),
            'opened': fig(row['opened'], d_opened),
            'waiting_now': fig(waiting['waiting'], d_waiting),
            'in_menu_now': fig(waiting['in_menu'], d_in_menu),
            'longest_wait': fig(max(0, int((now - oldest).total_seconds())) if oldest else None,
                                d_waiting + [('opened_at', '=', fields.Datetime.to_string(oldest))]
                                if oldest else d_waiting),
            'frt_median': fig(_round(row['frt_median']), d_responded),
            'frt_p90': fig(_round(row['frt_p90']), d_responded),
            'responded': fig(row['responded'], d_responded),
            'handling_avg': fig(_round(row['handling_avg']), d_finished),
            'handling_median': fig(_round(row['handling_median']), d_finished),
            'csat_avg': fig(round(row['csat_avg'], 2) if row['csat_avg'] is not None else None, d_rated),
            'csat_count': fig(row['csat_count'], d_rated),
            'csat_happy': dict(fig(row['csat_happy'], d_finished + [('rating_last_value', '>=', 4)]),
                               share=share(row['csat_happy'])),
            'csat_neutral': dict(fig(row['csat_neutral'], d_finished + [('rating_last_value', '>=', 3),
                                                                         ('rating_last_value', '<', 4)]),
                                 share=share(row['csat_neutral'])),
            'csat_unhappy': dict(fig(row['csat_unhappy'], d_finished + [('rating_last_value', '>', 0),
                                                                         ('rating_last_value', '<', 3)]),
                                 share=share(row['csat_unhappy'])),
            # a message count: it opens the services these messages belong to
            'messages_in': fig(messages['inbound'], message_domain('inbound')),
            'messages_out': fig(messages['outbound'], message_domain('outbound')),
            'end_attendant': fig(row['end_attendant'], d_finished + [('end_reason', '=', 'attendant')]),
            'end_customer': fig(row['end_customer'], d_finished + [('end_reason', '=', 'customer')]),
            'end_timeout': fig(row['end_timeout'], d_finished + [('end_reason', '=', 'timeout')]),
        }
        users = self.env['res.users'].browse([r['user_id'] for r in per_user if r['user_id']]).with_prefetch()
        names = {user.id: user.name for user in users.sudo()}
        attendants = sorted((
            {'user_id': r['user_id'] or False,
             'name': names.get(r['user_id']) or self.env._("Not assigned"),
             'finished': fig(r['finished'], d_finished + [('user_id', '=', r['user_id'] or False)]),
             'open': fig(r['open'], d_open + [('user_id', '=', r['user_id'] or False)])}
            for r in per_user), key=lambda a: (not a['user_id'], -a['open']['value'], a['name']))
        return {
            'period': period,
            'date_from': fields.Date.to_string(first),
            'date_to': fields.Date.to_string(last),
            'tz': tz.zone,
            'now': fields.Datetime.to_string(now),
            'figures': figures,
            'attendants': attendants,
            'series': self._dashboard_series(tz, first, last, company_sql, company_domain),
        }

    @api.model
    def _dashboard_series(self, tz, first, last, company_sql, company_domain):
        """Services opened and finished per hour (one day), per day (up to three months) or per month."""
        days = (last - first).days + 1
        unit = 'hour' if days == 1 else 'day' if days <= 92 else 'month'
        buckets = []
        if unit == 'hour':
            local = datetime.combine(first, time.min)
            buckets = [local + timedelta(hours=h) for h in range(24)]
            step = relativedelta(hours=1)
        elif unit == 'day':
            buckets = [datetime.combine(first + timedelta(days=d), time.min) for d in range(days)]
            step = relativedelta(days=1)
        else:
            month = date(first.year, first.month, 1)
            while month <= last:
                buckets.append(datetime.combine(month, time.min))
                month += relativedelta(months=1)
            step = relativedelta(months=1)
        start = self._dashboard_utc(tz, first)
        end = self._dashboard_utc(tz, last + timedelta(days=1))
        counts = {}
        for column in ('opened_at', 'closed_at'):
            self.env.cr.execute(SQL("""
                SELECT date_trunc(%(unit)s, (s.%(column)s AT TIME ZONE 'UTC') AT TIME ZONE %(tz)s) AS bucket,
                       count(*) AS n
                  FROM whatsapp_service s
                 WHERE s.%(column)s >= %(start)s AND s.%(column)s < %(end)s AND %(company)s
              GROUP BY 1
            """, unit=unit, column=SQL.identifier(column), tz=tz.zone, start=start, end=end, company=company_sql))
            counts[column] = {r[0]: r[1] for r in self.env.cr.fetchall()}
        labels, opened, finished, opened_domains, finished_domains = [], [], [], [], []
        for local in buckets:
            # a local hour or day (a DST change makes some 23 or 25 hours long) as UTC bounds
            b_start = tz.localize(local).astimezone(pytz.utc).replace(tzinfo=None)
            b_end = tz.localize(local + step).astimezone(pytz.utc).replace(tzinfo=None)
            b_s, b_e = fields.Datetime.to_string(max(b_start, start)), fields.Datetime.to_string(min(b_end, end))
            labels.append(local.strftime('%H:00') if unit == 'hour' else
                          fields.Date.to_string(local.date()) if unit == 'day' else local.strftime('%Y-%m'))
            opened.append(counts['opened_at'].get(local, 0))
            finished.append(counts['closed_at'].get(local, 0))
            opened_domains.append(company_domain + [('opened_at', '>=', b_s), ('opened_at', '<', b_e)])
            finished_domains.append(company_domain + [('state', '=', 'done'), ('closed_at', '>=', b_s),
                                                      ('closed_at', '<', b_e)])
        return {'unit': unit, 'labels': labels, 'opened': opened, 'finished': finished,
                'opened_domains': opened_domains, 'finished_domains': finished_domains}


class WhatsappMessage(models.Model):
    _inherit = 'whatsapp.message'

    # searching services by the text of their messages (ilike) over long histories
    body = fields.Text(index='trigram')


def _round(value):
    return round(value) if value is not None else None
