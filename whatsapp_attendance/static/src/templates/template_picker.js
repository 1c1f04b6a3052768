import { Composer } from "@mail/core/common/composer";
import { Thread } from "@mail/core/common/thread_model";

import { Component, onWillStart, onWillUnmount, useState } from "@odoo/owl";
import { Dialog } from "@web/core/dialog/dialog";
import { deserializeDateTime } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { useService } from "@web/core/utils/hooks";
import { patch } from "@web/core/utils/patch";

const { DateTime } = luxon;

/**
 * The 24-hour window of the Cloud API, visible in the composer of a WhatsApp conversation.
 *
 * Once the customer's last message is 24 hours old, WhatsApp only takes an approved template: the
 * composer says so (the server refuses a free-form message with the same words) and offers the
 * approved templates of the number, the customer's language first, each filled for this customer.
 */

patch(Thread.prototype, {
    /**
     * `null` while WhatsApp takes free-form messages (or the number has no window: WhatsApp Web),
     * else `{ hours }` since the customer last wrote (`null` hours: never in this service).
     *
     * @param {luxon.DateTime} [now]
     */
    whatsappClosedWindow(now = DateTime.now()) {
        const service = this.channel_type === "whatsapp" ? this.whatsapp_service : undefined;
        if (!service || !service.has_window || service.state === "done") {
            return null;
        }
        const closesAt = service.window_closes_at ? deserializeDateTime(service.window_closes_at) : null;
        if (closesAt && now < closesAt) {
            return null;
        }
        const last = service.last_inbound_at ? deserializeDateTime(service.last_inbound_at) : null;
        return { hours: last ? Math.floor(now.diff(last, "hours").hours) : null };
    },
});

export function windowClosedText(closed) {
    if (closed.hours === null) {
        return _t(
            "The customer has not written in the last 24 hours: WhatsApp only lets you send an approved template."
        );
    }
    if (closed.hours >= 48) {
        return _t(
            "The customer last wrote %(days)s days ago: WhatsApp only lets you send an approved template.",
            { days: Math.floor(closed.hours / 24) }
        );
    }
    return _t(
        "The customer last wrote %(hours)s hours ago: WhatsApp only lets you send an approved template.",
        { hours: closed.hours }
    );
}

export class WhatsappTemplatePicker extends Component {
    static template = "whatsapp_attendance.TemplatePicker";
    static components = { Dialog };
    static props = ["thread", "close"];

    setup() {
        this.orm = useService("orm");
        this.notification = useService("notification");
        this.state = useState({ templates: [], selectedId: null, loading: true, sending: false });
        onWillStart(async () => {
            const templates = await this.orm.call("whatsapp.service", "whatsapp_templates", [
                [this.props.thread.whatsapp_service.id],
            ]);
            Object.assign(this.state, {
                templates,
                selectedId: templates[0]?.id ?? null,
                loading: false,
            });
        });
    }

    get selected() {
        return this.state.templates.find((t) => t.id === this.state.selectedId);
    }

    get customerName() {
        return this.props.thread.whatsapp_service.customer_name;
    }

    select(template) {
        this.state.selectedId = template.id;
    }

    async send() {
        if (!this.selected || this.state.sending) {
            return;
        }
        this.state.sending = true;
        try {
            await this.orm.call("whatsapp.service", "action_send_template", [
                [this.props.thread.whatsapp_service.id],
                this.selected.id,
            ]);
        } catch (error) {
            this.state.sending = false;
            throw error;
        }
        await this.props.thread.fetchNewMessages();
        this.notification.add(_t("Template %(name)s sent to %(customer)s.", {
            name: this.selected.name,
            customer: this.customerName,
        }), { type: "success" });
        this.props.close();
    }
}

export class WhatsappWindowBanner extends Component {
    static template = "whatsapp_attendance.WindowBanner";
    static props = ["thread"];

    setup() {
        this.dialog = useService("dialog");
        // the window closes while the conversation is open: the banner appears on its own
        this.clock = useState({ now: DateTime.now() });
        const timer = setInterval(() => (this.clock.now = DateTime.now()), 30000);
        onWillUnmount(() => clearInterval(timer));
    }

    get closed() {
        return this.props.thread.whatsappClosedWindow(this.clock.now);
    }

    get text() {
        return windowClosedText(this.closed);
    }

    get canSend() {
        return this.props.thread.whatsappCanAct;
    }

    openPicker() {
        this.dialog.add(WhatsappTemplatePicker, { thread: this.props.thread });
    }
}

patch(Composer, { components: { ...Composer.components, WhatsappWindowBanner } });
