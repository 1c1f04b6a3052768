import { Record } from "@mail/core/common/record";
import { Thread } from "@mail/core/common/thread_model";
import { compareDatetime } from "@mail/utils/common/misc";
import { DiscussAppCategory } from "@mail/core/public_web/discuss_app_category_model";

import { patch } from "@web/core/utils/patch";

patch(Thread.prototype, {
    setup() {
        super.setup(...arguments);
        /** the service of a WhatsApp conversation, see discuss.channel._to_store */
        this.whatsapp_service = undefined;
        this.appAsWhatsapp = Record.one("DiscussApp", {
            compute() {
                return this.channel_type === "whatsapp" ? this.store.discuss : null;
            },
        });
    },
    _computeDiscussAppCategory() {
        if (this.channel_type === "whatsapp") {
            // only the conversations the user attends: one transferred away leaves at once
            return this.selfMember ? this.appAsWhatsapp?.whatsappCategory : undefined;
        }
        return super._computeDiscussAppCategory();
    },
    get isWhatsapp() {
        return this.channel_type === "whatsapp" && Boolean(this.whatsapp_service);
    },
    /** Whether the current user attends this service (or may act on it as an administrator). */
    get whatsappCanAct() {
        const service = this.whatsapp_service;
        if (!service || service.state === "done") {
            return false;
        }
        return this.store.whatsapp_is_admin || service.attendant_partner_id === this.store.self?.id;
    },
    get canLeave() {
        // leaving a customer's conversation is a transfer or a finish, not a silent leave
        return this.channel_type !== "whatsapp" && super.canLeave;
    },
});

patch(DiscussAppCategory.prototype, {
    /** My services: the most recent conversation first (unread counters are Discuss's own). */
    sortThreads(t1, t2) {
        if (this.eq(this.app?.whatsappCategory)) {
            return compareDatetime(t2.lastInterestDt, t1.lastInterestDt) || t2.id - t1.id;
        }
        return super.sortThreads(t1, t2);
    },
});
