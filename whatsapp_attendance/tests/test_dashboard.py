from datetime import datetime

from freezegun import freeze_time

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import SQL

from .common import WhatsappCase, remove_other_services

# Wednesday 11 March 2026, 12:00 in São Paulo (UTC-3, no daylight saving time)
NOW = datetime(2026, 3, 11, 15, 0, 0)


def utc(text):
    return datetime.fromisoformat(text)


@tagged('post_install', '-at_install')
class TestDashboard(WhatsappCase):
    """Every figure of the dashboard for each period, on fixed services (UTC times below; the
    company is in São Paulo, UTC-3), and the services each figure clicks through to."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        remove_other_services(cls.env)  # the figures count every service: exactly those below
        cls.env.company.partner_id.tz = 'America/Sao_Paulo'
        cls.supervisor = new_test_user(cls.env, login='wa_sup', name="Sofia Supervisor",
                                       groups='whatsapp_attendance.group_whatsapp_supervisor')
        Service = cls.env['whatsapp.service']
        ana, bruno = cls.attendant, cls.attendant_b
        spec = {
            # name: (attendant, state, opened, first response, closed, end reason, rating)
            # crosses the start of "today" (local): opened yesterday 23:30, closed today 00:30
            'A': (ana, 'done', '2026-03-11 02:30:00', '2026-03-11 02:35:00', '2026-03-11 03:30:00', 'attendant', 5),
            'B': (ana, 'in_progress', '2026-03-11 10:00:00', '2026-03-11 10:02:00', None, None, 0),
            'C': (None, 'waiting', '2026-03-11 14:00:00', None, None, None, 0),
            'D': (bruno, 'done', '2026-03-10 12:00:00', '2026-03-10 12:10:00', '2026-03-10 13:00:00', 'timeout', 1),
            # today in UTC, but yesterday in São Paulo (closed 23:59:59 local)
            'E': (None, 'done', '2026-03-11 02:50:00', None, '2026-03-11 02:59:59', 'customer', 0),
            'F': (bruno, 'done', '2026-03-01 12:00:00', '2026-03-01 12:30:00', '2026-03-02 12:00:00', 'customer', 3),
            # open since February, across every period
            'G': (bruno, 'in_progress', '2026-02-28 20:00:00', '2026-02-28 20:01:00', None, None, 0),
            'H': (ana, 'done', '2026-02-27 12:00:00', '2026-02-27 12:00:30', '2026-02-28 12:00:00', 'attendant', 4),
        }
        cls.s = {}
        for index, (key, (user, state, opened, response, closed, reason, rating)) in enumerate(spec.items()):
            partner = cls.env['res.partner'].create({
                'name': f"Customer {key}", 'whatsapp_phone': f"+55119700020{index:02d}"})
            service = Service.create({'partner_id': partner.id, 'account_id': cls.account.id,
                                      'user_id': user.id if user else False})
            cls.env.cr.execute(SQL(
                "UPDATE whatsapp_service SET state = %s, opened_at = %s, first_response_at = %s, closed_at = %s, "
                "end_reason = %s, rating_last_value = %s WHERE id = %s",
                state, opened, response, closed, reason, rating, service.id))
            cls.s[key] = service
        # messages: created today (local) and yesterday
        Message = cls.env['whatsapp.message']
        for key, direction, created in [
                ('B', 'inbound', '2026-03-11 10:00:00'), ('B', 'inbound', '2026-03-11 10:01:00'),
                ('B', 'outbound', '2026-03-11 10:02:00'), ('C', 'inbound', '2026-03-11 14:00:00'),
                ('D', 'inbound', '2026-03-10 12:00:00'), ('D', 'outbound', '2026-03-10 12:10:00'),
                ('E', 'inbound', '2026-03-11 02:55:00')]:
            message = Message.create({'account_id': cls.account.id, 'service_id': cls.s[key].id,
                                      'direction': direction, 'body': f"{key} {direction}",
                                      'state': 'received' if direction == 'inbound' else 'sent'})
            cls.env.cr.execute(SQL("UPDATE whatsapp_message SET create_date = %s WHERE id = %s",
                                   created, message.id))
        cls.env.invalidate_all()

    def dashboard(self, period, date_from=None, date_to=None, user=None):
        with freeze_time(NOW):
            return self.env['whatsapp.service'].with_user(user or self.supervisor).get_dashboard(
                period, date_from, date_to)

    def values(self, data):
        return {key: figure['value'] for key, figure in data['figures'].items()}

    def names(self, domain):
        services = self.env['whatsapp.service'].with_user(self.supervisor).search(domain)
        return set(services.partner_id.mapped('name'))

    def per_attendant(self, data):
        return {a['name']: (a['finished']['value'], a['open']['value']) for a in data['attendants']}

    def assertClickThrough(self, data):
        """Each count opens exactly the services it counts."""
        with freeze_time(NOW):
            Service = self.env['whatsapp.service'].with_user(self.supervisor)
            for key in ('finished', 'open', 'opened', 'waiting_now', 'in_menu_now', 'responded', 'csat_count',
                        'csat_happy', 'csat_neutral', 'csat_unhappy', 'end_attendant', 'end_customer', 'end_timeout'):
                figure = data['figures'][key]
                self.assertEqual(Service.search_count(figure['domain']), figure['value'], key)
            for attendant in data['attendants']:
                for key in ('finished', 'open'):
                    self.assertEqual(Service.search_count(attendant[key]['domain']), attendant[key]['value'],
                                     (attendant['name'], key))
            series = data['series']
            for counts, domains in ((series['opened'], series['opened_domains']),
                                    (series['finished'], series['finished_domains'])):
                self.assertEqual([Service.search_count(d) for d in domains], counts)

    def test_customers_in_the_menu_are_not_waiting_for_a_person(self):
        """A customer still answering the menu is not in the queue: "Waiting now" and the longest
        wait count the queue only, and the card says how many more are in the menu."""
        menu = self.env['whatsapp.menu'].create({'name': "Dashboard menu", 'body': "Como podemos ajudar?"})
        partner = self.env['res.partner'].create({'name': "Customer I", 'whatsapp_phone': "+5511970002099"})
        service = self.env['whatsapp.service'].create({'partner_id': partner.id, 'account_id': self.account.id,
                                                       'menu_id': menu.id})
        self.env.cr.execute(SQL("UPDATE whatsapp_service SET opened_at = %s WHERE id = %s",
                                '2026-03-11 12:00:00', service.id))  # waiting longer than C, but in the menu
        self.env.invalidate_all()
        data = self.dashboard('today')
        v = self.values(data)
        self.assertEqual((v['waiting_now'], v['longest_wait'], v['in_menu_now']), (1, 3600, 1))
        self.assertEqual(self.names(data['figures']['waiting_now']['domain']), {"Customer C"})
        self.assertEqual(self.names(data['figures']['in_menu_now']['domain']), {"Customer I"})
        self.assertClickThrough(data)

    def test_today_in_the_company_timezone(self):
        data = self.dashboard('today')
        self.assertEqual((data['date_from'], data['date_to'], data['tz']),
                         ('2026-03-11', '2026-03-11', 'America/Sao_Paulo'))
        v = self.values(data)
        self.assertEqual(v['finished'], 1, "A closed at 00:30 local; E closed 23:59:59 yesterday local")
        self.assertEqual(self.names(data['figures']['finished']['domain']), {"Customer A"})
        self.assertEqual(self.names(data['figures']['open']['domain']),
                         {"Customer A", "Customer B", "Customer C", "Customer G"})
        self.assertEqual(v['opened'], 2)
        self.assertEqual((v['waiting_now'], v['longest_wait']), (1, 3600))
        self.assertEqual(self.names(data['figures']['longest_wait']['domain']), {"Customer C"})
        self.assertEqual((v['frt_median'], v['frt_p90'], v['responded']), (120, 120, 1))
        self.assertEqual((v['handling_avg'], v['handling_median']), (3600, 3600))
        self.assertEqual((v['csat_avg'], v['csat_count'], v['csat_happy'], v['csat_neutral'], v['csat_unhappy']),
                         (5.0, 1, 1, 0, 0))
        self.assertEqual(data['figures']['csat_happy']['share'], 100.0)
        self.assertEqual((v['end_attendant'], v['end_customer'], v['end_timeout']), (1, 0, 0))
        self.assertEqual((v['messages_in'], v['messages_out']), (3, 1), "E's 02:55 UTC message is yesterday")
        self.assertEqual(self.names(data['figures']['messages_in']['domain']), {"Customer B", "Customer C"})
        self.assertEqual(self.names(data['figures']['messages_out']['domain']), {"Customer B"})
        self.assertEqual(self.per_attendant(data), {"Ana": (1, 2), "Bruno": (0, 1), "Not assigned": (0, 1)})
        series = data['series']
        self.assertEqual(series['unit'], 'hour')
        self.assertEqual(len(series['labels']), 24)
        self.assertEqual(series['opened'][7], 1, "B opened 07:00 local")
        self.assertEqual(series['opened'][11], 1, "C opened 11:00 local")
        self.assertEqual(sum(series['opened']), 2)
        self.assertEqual(series['finished'][0], 1, "A closed 00:30 local")
        self.assertClickThrough(data)

    def test_this_week(self):
        data = self.dashboard('week')
        self.assertEqual((data['date_from'], data['date_to']), ('2026-03-09', '2026-03-15'))
        v = self.values(data)
        self.assertEqual((v['finished'], v['open'], v['opened']), (3, 6, 5))
        self.assertEqual((v['frt_median'], v['frt_p90'], v['responded']), (300, 540, 3))
        self.assertEqual((v['handling_avg'], v['handling_median']), (2600, 3600))
        self.assertEqual((v['csat_avg'], v['csat_count'], v['csat_happy'], v['csat_neutral'], v['csat_unhappy']),
                         (3.0, 2, 1, 0, 1))
        self.assertEqual(data['figures']['csat_unhappy']['share'], 50.0)
        self.assertEqual((v['end_attendant'], v['end_customer'], v['end_timeout']), (1, 1, 1))
        self.assertEqual((v['messages_in'], v['messages_out']), (5, 2))
        self.assertEqual(self.per_attendant(data), {"Ana": (1, 2), "Bruno": (1, 2), "Not assigned": (1, 2)})
        series = data['series']
        self.assertEqual(series['unit'], 'day')
        self.assertEqual(series['labels'][0], '2026-03-09')
        self.assertEqual(series['opened'], [0, 3, 2, 0, 0, 0, 0], "A and E opened late on Tuesday local")
        self.assertEqual(series['finished'], [0, 2, 1, 0, 0, 0, 0])
        self.assertClickThrough(data)

    def test_this_month(self):
        data = self.dashboard('month')
        self.assertEqual((data['date_from'], data['date_to']), ('2026-03-01', '2026-03-31'))
        v = self.values(data)
        self.assertEqual((v['finished'], v['open'], v['opened']), (4, 7, 6))
        self.assertEqual((v['csat_avg'], v['csat_count'], v['csat_happy'], v['csat_neutral'], v['csat_unhappy']),
                         (3.0, 3, 1, 1, 1))
        self.assertEqual(data['figures']['csat_neutral']['share'], 33.3)
        self.assertEqual((v['end_attendant'], v['end_customer'], v['end_timeout']), (1, 2, 1))
        self.assertEqual(len(data['series']['labels']), 31)
        self.assertClickThrough(data)

    def test_custom_range_and_a_service_crossing_it(self):
        data = self.dashboard('custom', '2026-02-27', '2026-02-28')
        self.assertEqual(self.names(data['figures']['finished']['domain']), {"Customer H"})
        self.assertEqual(self.names(data['figures']['open']['domain']), {"Customer H", "Customer G"})
        v = self.values(data)
        self.assertEqual((v['finished'], v['open'], v['opened'], v['csat_avg']), (1, 2, 2, 4.0))
        self.assertEqual(v['waiting_now'], 1, "waiting now does not depend on the period")
        self.assertEqual(self.per_attendant(data), {"Ana": (1, 1), "Bruno": (0, 1)})
        self.assertClickThrough(data)
        # a long range is drawn per month
        data = self.dashboard('custom', '2025-06-01', '2026-03-31')
        self.assertEqual(data['series']['unit'], 'month')
        self.assertEqual(data['series']['labels'][-1], '2026-03')
        self.assertEqual(data['series']['opened'][-2:], [2, 6], "G and H in February, six in March")
        self.assertEqual(data['figures']['finished']['value'], 5)
        self.assertClickThrough(data)
        for args in (('custom', '2026-03-02', '2026-03-01'), ('custom', None, None), ('yesterday',)):
            with self.assertRaises(UserError):
                self.dashboard(*args)

    def test_the_timezone_decides_the_day(self):
        self.env.company.partner_id.tz = 'UTC'
        data = self.dashboard('today')
        self.assertEqual(self.names(data['figures']['finished']['domain']), {"Customer A", "Customer E"})
        self.assertEqual(data['figures']['open']['value'], 5)
        self.assertEqual(data['series']['opened'][10], 1, "B opened 10:00 UTC")
        self.assertClickThrough(data)

    def test_only_supervisors_and_administrators(self):
        with self.assertRaises(AccessError):
            self.dashboard('today', user=self.attendant)
        self.assertEqual(self.dashboard('today', user=self.wa_admin)['figures']['open']['value'], 4)
        Report = self.env['whatsapp.service.report']
        with self.assertRaises(AccessError):
            Report.with_user(self.attendant).search([])
        self.assertEqual(Report.with_user(self.supervisor).search_count([]), 8)

    def test_report_measures_and_dimensions(self):
        Report = self.env['whatsapp.service.report'].with_user(self.supervisor)
        groups = Report._read_group([], ['user_id'], ['__count', 'rating:avg', 'first_response_time:avg',
                                                       'handling_time:avg'])
        by_user = {user.name or False: rest for user, *rest in groups}
        # Ana: A (5, 5 min, 60 min), B (unrated, 2 min, open), H (4, 0.5 min, 1440 min)
        self.assertEqual(by_user["Ana"][0], 3)
        self.assertAlmostEqual(by_user["Ana"][1], 4.5, msg="the average over rated services only")
        self.assertAlmostEqual(by_user["Ana"][2], 2.5)
        self.assertAlmostEqual(by_user["Ana"][3], 750)
        self.assertFalse(by_user[False][1], "nobody rated the unassigned services")
        hours = dict(Report._read_group([('opened_day', '=', '2026-03-11')], ['opened_hour'], ['__count']))
        self.assertEqual(hours, {'07': 1, '11': 1}, "B and C, by their local hour")
        days = dict(Report._read_group([('opened_day', '>=', '2026-03-10')], ['opened_day:day'], ['__count']))
        self.assertEqual(sorted(days.values()), [2, 3], "A and E opened on the 10th, local time")
        levels = dict(Report._read_group([], ['rating_text'], ['__count']))
        self.assertEqual(levels, {'top': 2, 'ok': 1, 'ko': 1, 'none': 4})
        self.assertNotIn('sum', Report._fields['rating'].aggregator)

    def test_search_by_message_text_and_any_number_format(self):
        Service = self.env['whatsapp.service'].with_user(self.supervisor)
        self.assertEqual(Service.search([('message_text', 'ilike', 'B outb')]), self.s['B'])
        self.assertEqual(Service.search([('message_text', 'not ilike', 'inbound')]),
                         Service.search([('id', 'not in', (self.s['B'] | self.s['C'] | self.s['D']
                                                           | self.s['E']).ids)]))
        for number in ("+55 11 97000-2003", "(11) 97000-2003", "5511970002003"):
            self.assertEqual(Service.search([('partner_phone', 'ilike', number)]), self.s['D'], number)


@tagged('post_install', '-at_install')
class TestSupervisor(WhatsappCase):
    """A supervisor sees every service, takes over, transfers and finishes any service, and has
    no configuration rights; attendants see neither the dashboard nor the reports."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.supervisor = new_test_user(cls.env, login='wa_sup2', name="Sofia Supervisor",
                                       groups='whatsapp_attendance.group_whatsapp_supervisor')

    def test_sees_all_takes_over_transfers_and_finishes(self):
        service = self.open_service('5511987650001', attendant=self.attendant)
        other = self.open_service('5511987650002', attendant=self.attendant_b)
        as_sup = self.env['whatsapp.service'].with_user(self.supervisor)
        self.assertEqual(as_sup.search([('id', 'in', (service | other).ids)]), service | other)
        self.assertFalse(self.env['whatsapp.service'].with_user(self.attendant).search([('id', '=', other.id)]))
        self.assertTrue(self.env['whatsapp.message'].with_user(self.supervisor).search(
            [('service_id', '=', other.id)]))
        self.assertFalse(service.with_user(self.supervisor)._reply_refusal(self.supervisor))
        service.with_user(self.supervisor).action_take()
        self.assertEqual(service.user_id, self.supervisor)
        other.with_user(self.supervisor)._transfer(self.attendant)
        self.assertEqual(other.user_id, self.attendant)
        other.with_user(self.supervisor).action_finish()
        self.assertEqual((other.state, other.end_reason), ('done', 'attendant'))
        self.post_as(self.supervisor, service, body="Supervisor here")
        self.assertTrue(service.whatsapp_message_ids.filtered(lambda m: m.attendant_id == self.supervisor))

    def test_no_configuration_and_roles_in_the_menus(self):
        self.assertFalse(self.supervisor.has_group('base.group_system'))
        with self.assertRaises(AccessError):
            self.env['whatsapp.account'].with_user(self.supervisor).create({'name': "X", 'phone_number_id': 'x'})
        with self.assertRaises(AccessError):
            self.account.with_user(self.supervisor).write({'name': "Renamed"})
        self.assertTrue(self.wa_admin.has_group('whatsapp_attendance.group_whatsapp_supervisor'))
        Menu = self.env['ir.ui.menu']
        menus = {
            'dashboard': self.env.ref('whatsapp_attendance.menu_whatsapp_dashboard'),
            'reporting': self.env.ref('whatsapp_attendance.menu_whatsapp_reporting'),
            'config': self.env.ref('whatsapp_attendance.menu_whatsapp_config'),
        }

        def visible(user):
            ids = Menu.with_user(user)._visible_menu_ids()
            return {name for name, menu in menus.items() if menu.id in ids}

        self.assertEqual(visible(self.attendant), set())
        self.assertEqual(visible(self.supervisor), {'dashboard', 'reporting'})
        self.assertEqual(visible(self.wa_admin), {'dashboard', 'reporting', 'config'})
