from odoo.tests import HttpCase, new_test_user, tagged

from .common import enable_live_bus, populate_every_kind, remove_other_services


@tagged('post_install', '-at_install')
class TestDashboardTour(HttpCase):
    """A supervisor, in a real browser: the dashboard, a figure's services, live refresh."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        enable_live_bus(cls)  # the dashboard follows the queue live

    def test_supervisor_clicks_through_the_dashboard(self):
        remove_other_services(self.env)  # the tour checks exact figures over every service
        self.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.stream_prefix', 'test-dashboard:')
        self.env['whatsapp.account'].create({'name': "Dashboard", 'phone_number_id': 'pnid-dashboard'})
        ana = new_test_user(self.env, login='wa_dash_ana', name="Ana Click",
                            groups='whatsapp_attendance.group_whatsapp_attendant')
        bruno = new_test_user(self.env, login='wa_dash_bruno', name="Bruno Click",
                              groups='whatsapp_attendance.group_whatsapp_attendant')
        new_test_user(self.env, login='wa_dash_sup', name="Sofia Supervisor",
                      groups='whatsapp_attendance.group_whatsapp_supervisor')
        # the tour checks exact figures: the services of every kind, without the routing extras
        services = populate_every_kind(self.env, 'pnid-dashboard', ana, bruno, routing=False)
        self.assertEqual(len(services['done']), 2)
        self.start_tour('/odoo/action-whatsapp_attendance.whatsapp_dashboard_action',
                        'whatsapp_attendance_dashboard_tour', login='wa_dash_sup')
        self.assertEqual(services['waiting'].state, 'in_progress', "the tour took the waiting customer")
