from . import (
    discuss_channel,
    mail_message,
    rating_rating,
    res_config_settings,
    res_partner,
    res_users,
    whatsapp_account,
    whatsapp_api,
    whatsapp_message,
    whatsapp_service,
    whatsapp_dashboard,
    whatsapp_service_report,
)
