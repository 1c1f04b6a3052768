{
    'name': "WhatsApp Attendance",
    'version': '18.0.1.1.0',
    'category': 'Services/WhatsApp',
    'summary': "Several attendants answer the customers of one WhatsApp number in Odoo Discuss",
    'author': "WhatsApp Attendance developers",
    'license': 'LGPL-3',
    'depends': ['mail', 'rating', 'bus', 'base_setup', 'auth_signup'],
    'external_dependencies': {'python': ['phonenumbers', 'redis', 'qrcode']},
    'data': [
        'security/whatsapp_security.xml',
        'security/ir.model.access.csv',
        'data/ir_sequence_data.xml',
        'data/whatsapp_data.xml',
        'data/ir_cron_data.xml',
        'views/whatsapp_message_views.xml',
        'views/whatsapp_service_views.xml',
        'views/whatsapp_dashboard_views.xml',
        'views/whatsapp_service_transfer_views.xml',
        'views/whatsapp_account_views.xml',
        'views/whatsapp_bridge_key_views.xml',
        'views/res_partner_views.xml',
        'views/res_config_settings_views.xml',
        'views/res_users_views.xml',
        'views/whatsapp_menus.xml',
    ],
    'demo': [
        'demo/whatsapp_demo.xml',
    ],
    'assets': {
        'web.assets_backend': [
            'whatsapp_attendance/static/src/**/*',
        ],
        'web.assets_tests': [
            'whatsapp_attendance/static/tests/tours/**/*',
        ],
    },
    'application': True,
}
