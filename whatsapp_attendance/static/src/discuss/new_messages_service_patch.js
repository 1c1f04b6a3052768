import { DiscussCoreCommon } from "@mail/discuss/core/common/discuss_core_common_service";

import { patch } from "@web/core/utils/patch";

/**
 * The customers' messages of one WhatsApp conversation arrive in batches: one bus notification
 * ("whatsapp.channel/new_messages", sent by discuss.channel._whatsapp_post_inbound) carries all the
 * new messages of a channel. Each is then handled, in order, exactly as Discuss handles its own
 * "discuss.channel/new_message": shown live, counted as unread, notified to the user.
 */
patch(DiscussCoreCommon.prototype, {
    setup() {
        super.setup(...arguments);
        this.busService.subscribe("whatsapp.channel/new_messages", async (payload, metadata) => {
            // insert before any await, as Discuss does (newer notifications must not be overwritten)
            this.store.insert(payload.data, { html: true });
            for (const id of payload.message_ids) {
                await this._handleNotificationNewMessage(
                    { data: { "mail.message": [{ id }] }, id: payload.id },
                    metadata
                );
            }
        });
    },
});
