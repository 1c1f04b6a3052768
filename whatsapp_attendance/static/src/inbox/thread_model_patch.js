import { Record } from "@mail/core/common/record";
import { Thread } from "@mail/core/common/thread_model";
import { compareDatetime } from "@mail/utils/common/misc";
import { DiscussAppCategory } from "@mail/core/public_web/discuss_app_category_model";

import { _t } from "@web/core/l10n/translation";
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
            // only the conversations the user attends: one transferred away leaves at once, a
            // finished one once the user has left it
            const finished = this.whatsapp_service?.state === "done" && this.notEq(this.store.discuss.thread);
            return this.selfMember && !finished ? this.appAsWhatsapp?.whatsappCategory : undefined;
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
        return this.store.whatsapp_is_admin || this.store.whatsapp_is_supervisor || service.attendant_partner_id === this.store.self?.id;
    },
    /** Why the current user cannot write to the customer here (shown above the composer), or "". */
    get whatsappComposerNotice() {
        const service = this.whatsapp_service;
        if (!service || this.whatsappCanAct) {
            return "";
        }
        if (service.state === "done") {
            return _t("This service is finished: the customer's next message opens a new one.");
        }
        if (service.state === "waiting") {
            return _t("This customer is waiting in the queue: take the service to answer.");
        }
        if ((service.readonly_partner_ids || []).includes(this.store.self?.id)) {
            return _t("Shared with you read-only: only %(attendant)s answers the customer. You can add an internal note.", {
                attendant: service.attendant_name,
            });
        }
        return _t("Only %(attendant)s answers this customer. You can add an internal note.", {
            attendant: service.attendant_name,
        });
    },
    onPinStateUpdated() {
        // a conversation the user is reading stays open when it gets unpinned (finished,
        // re-read): Discuss would otherwise jump to another channel and lose what they typed;
        // it leaves the sidebar once they leave it
        if (
            this.channel_type === "whatsapp" &&
            !this.is_pinned &&
            !this.isLocallyPinned &&
            this.eq(this.store.discuss?.thread)
        ) {
            this.isLocallyPinned = true;
        }
        super.onPinStateUpdated();
    },
    get canLeave() {
        // leaving a customer's conversation is a transfer or a finish, not a silent leave
        return this.channel_type !== "whatsapp" && super.canLeave;
    },
});

patch(DiscussAppCategory.prototype, {
    /** My services: pinned customers first, then the most recent conversation (unread counters
     * are Discuss's own). */
    sortThreads(t1, t2) {
        if (this.eq(this.app?.whatsappCategory)) {
            const favorites = this.store.whatsapp_favorite_partner_ids || [];
            const f1 = favorites.includes(t1.whatsapp_service?.customer_id) ? 1 : 0;
            const f2 = favorites.includes(t2.whatsapp_service?.customer_id) ? 1 : 0;
            return f2 - f1 || compareDatetime(t2.lastInterestDt, t1.lastInterestDt) || t2.id - t1.id;
        }
        return super.sortThreads(t1, t2);
    },
});
