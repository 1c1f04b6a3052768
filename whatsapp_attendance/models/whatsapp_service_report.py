from odoo import fields, models
from odoo.tools import SQL

HOURS = [(f"{h:02d}", f"{h:02d}:00") for h in range(24)]


class WhatsappServiceReport(models.Model):
    """Services analysis: one row per service, with its times in minutes and its rating, the day
    and hour of its opening in the company's timezone. Only sensible measures: the count,
    averages of times, the average rating of rated services (never a sum)."""

    _name = 'whatsapp.service.report'
    _description = "WhatsApp Services Analysis"
    _auto = False
    _order = 'opened_at desc'
    _rec_name = 'service_id'

    service_id = fields.Many2one('whatsapp.service', readonly=True)
    partner_id = fields.Many2one('res.partner', "Customer", readonly=True)
    user_id = fields.Many2one('res.users', "Attendant", readonly=True)
    account_id = fields.Many2one('whatsapp.account', "WhatsApp Account", readonly=True)
    company_id = fields.Many2one('res.company', readonly=True)
    state = fields.Selection([
        ('waiting', "Waiting"), ('in_progress', "In Progress"), ('done', "Done"),
    ], readonly=True)
    end_reason = fields.Selection([
        ('attendant', "Finished by the attendant"),
        ('customer', "Finished by the customer"),
        ('timeout', "Idle timeout"),
    ], "Ended By", readonly=True)
    opened_at = fields.Datetime("Opened", readonly=True)
    closed_at = fields.Datetime("Closed", readonly=True)
    opened_day = fields.Date("Opened On", readonly=True, help="The day of opening, in the company's timezone.")
    opened_hour = fields.Selection(HOURS, "Opened At Hour", readonly=True,
                                   help="The hour of opening, in the company's timezone.")
    first_response_time = fields.Float("First Response (min)", readonly=True, aggregator='avg',
                                       help="Minutes until the first answer of an attendant (answered services).")
    handling_time = fields.Float("Handling Time (min)", readonly=True, aggregator='avg',
                                 help="Minutes from opening to closing (finished services).")
    rating = fields.Float(readonly=True, aggregator='avg', help="1 to 5 (rated services only).")
    rating_text = fields.Selection([
        ('top', "Satisfied"), ('ok', "Okay"), ('ko', "Dissatisfied"), ('none', "Not rated"),
    ], "Rating Level", readonly=True)

    @property
    def _table_query(self):
        return SQL("""
            SELECT s.id AS id, s.id AS service_id, s.partner_id, s.user_id, s.account_id, s.company_id,
                   s.state, s.end_reason, s.opened_at, s.closed_at,
                   (timezone(COALESCE(cp.tz, 'UTC'), s.opened_at AT TIME ZONE 'UTC'))::date AS opened_day,
                   to_char(timezone(COALESCE(cp.tz, 'UTC'), s.opened_at AT TIME ZONE 'UTC'), 'HH24') AS opened_hour,
                   extract(epoch FROM s.first_response_at - s.opened_at) / 60 AS first_response_time,
                   CASE WHEN s.state = 'done' THEN extract(epoch FROM s.closed_at - s.opened_at) / 60 END
                       AS handling_time,
                   NULLIF(s.rating_last_value, 0) AS rating,
                   CASE WHEN s.rating_last_value >= 4 THEN 'top'
                        WHEN s.rating_last_value >= 3 THEN 'ok'
                        WHEN s.rating_last_value >= 1 THEN 'ko'
                        ELSE 'none' END AS rating_text
              FROM whatsapp_service s
         LEFT JOIN res_company c ON c.id = s.company_id
         LEFT JOIN res_partner cp ON cp.id = c.partner_id
        """)
