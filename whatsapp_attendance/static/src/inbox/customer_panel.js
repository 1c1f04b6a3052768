import { Component, onWillStart, onWillUpdateProps, useState } from "@odoo/owl";

import { deserializeDateTime, formatDate } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { useService } from "@web/core/utils/hooks";

const RATINGS = {
    top: { icon: "fa-smile-o text-success", label: _t("Satisfied") },
    ok: { icon: "fa-meh-o text-warning", label: _t("Okay") },
    ko: { icon: "fa-frown-o text-danger", label: _t("Dissatisfied") },
};

/**
 * The customer beside a WhatsApp conversation: contact card, tags (editable in place), notes,
 * previous services with their attendant and rating, and a star to pin the customer.
 */
export class WhatsappCustomerPanel extends Component {
    static template = "whatsapp_attendance.CustomerPanel";
    static props = ["thread", "className?"];

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.store = useState(useService("mail.store"));
        this.state = useState({ data: null, editingNote: false, note: "", newTag: "" });
        onWillStart(() => this.load(this.props.thread));
        onWillUpdateProps((next) => {
            if (next.thread !== this.props.thread) {
                return this.load(next.thread);
            }
        });
    }

    get serviceId() {
        return this.props.thread.whatsapp_service?.id;
    }

    async call(method, args = [], thread = this.props.thread) {
        return this.orm.call("whatsapp.service", method, [[thread.whatsapp_service.id], ...args]);
    }

    async load(thread) {
        if (!thread.whatsapp_service) {
            return;
        }
        this.state.data = await this.call("whatsapp_customer_panel", [], thread);
        this.state.note = this.state.data.customer.note;
    }

    get unusedTags() {
        const used = new Set(this.state.data.customer.tags.map((tag) => tag.id));
        return this.state.data.all_tags.filter((tag) => !used.has(tag.id));
    }

    ratingOf(service) {
        return RATINGS[service.rating];
    }

    dateOf(service) {
        return formatDate(deserializeDateTime(service.opened_at));
    }

    async removeTag(tag) {
        const ids = this.state.data.customer.tags.filter((t) => t.id !== tag.id).map((t) => t.id);
        this.state.data = await this.call("whatsapp_set_customer_tags", [ids]);
    }

    async addTag(ev) {
        const value = ev.target.value;
        ev.target.value = "";
        if (value) {
            const ids = [...this.state.data.customer.tags.map((t) => t.id), parseInt(value)];
            this.state.data = await this.call("whatsapp_set_customer_tags", [ids]);
        }
    }

    async createTag() {
        if (this.state.newTag.trim()) {
            this.state.data = await this.call("whatsapp_create_customer_tag", [this.state.newTag]);
            this.state.newTag = "";
        }
    }

    async saveNote() {
        this.state.data = await this.call("whatsapp_set_customer_note", [this.state.note]);
        this.state.editingNote = false;
    }

    async toggleFavorite() {
        const favorite = await this.call("whatsapp_toggle_favorite");
        this.state.data.customer.favorite = favorite;
        const ids = new Set(this.store.whatsapp_favorite_partner_ids);
        const customerId = this.state.data.customer.id;
        favorite ? ids.add(customerId) : ids.delete(customerId);
        this.store.whatsapp_favorite_partner_ids = [...ids];
    }

    openService(service) {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "whatsapp.service",
            res_id: service.id,
            views: [[false, "form"]],
        });
    }
}
