from odoo import api, models


class BusPresence(models.Model):
    _inherit = 'bus.presence'

    @api.model_create_multi
    def create(self, vals_list):
        presences = super().create(vals_list)
        presences._whatsapp_came_online()
        return presences

    def write(self, vals):
        offline = self.filtered(lambda presence: presence.status != 'online')
        result = super().write(vals)
        offline._whatsapp_came_online()
        return result

    def _whatsapp_came_online(self):
        """An attendant of a team with automatic assignment came online: the customers waiting for
        it are assigned right after (by the cron, triggered now: a presence update is no place for
        the assignment itself)."""
        users = self.filtered(lambda presence: presence.status == 'online').user_id
        # sudo: whatsapp.team - whichever user came online, their teams are read to decide
        if users and users.sudo().whatsapp_team_ids.filtered('auto_assign'):
            self.env['whatsapp.service']._whatsapp_trigger_auto_assign()
