import { Message } from "@mail/core/common/message";

import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";

const TICKS = {
    queued: { icon: "fa-clock-o", className: "text-muted", title: _t("Queued: on its way to WhatsApp") },
    sent: { icon: "fa-check", className: "text-muted", title: _t("Sent") },
    delivered: { icon: "fa-check o-whatsapp-double", className: "text-muted", title: _t("Delivered") },
    read: { icon: "fa-check o-whatsapp-double", className: "o-whatsapp-read", title: _t("Read") },
    failed: { icon: "fa-exclamation-circle", className: "text-danger", title: _t("Not delivered") },
};

/** WhatsApp delivery ticks on the messages sent to a customer, updated live. */
patch(Message.prototype, {
    get whatsappTick() {
        const status = this.props.message.whatsappStatus;
        if (!status) {
            return null;
        }
        const tick = TICKS[status.state] || TICKS.queued;
        const title = status.state === "failed" && status.error ? `${tick.title}: ${status.error}` : tick.title;
        return { ...tick, title, state: status.state, retryable: status.state === "failed" && status.retryable };
    },
    async onClickWhatsappRetry() {
        const status = this.props.message.whatsappStatus;
        await this.env.services.orm.call("whatsapp.message", "action_retry", [status.ids]);
    },
});
