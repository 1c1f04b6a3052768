import { Component, useState } from "@odoo/owl";

import { Dialog } from "@web/core/dialog/dialog";

/** Write an internal note in a WhatsApp conversation: for colleagues, never sent to the customer. */
export class WhatsappNoteDialog extends Component {
    static template = "whatsapp_attendance.NoteDialog";
    static components = { Dialog };
    static props = ["close", "onSave"];

    setup() {
        this.state = useState({ body: "" });
    }

    async save() {
        if (this.state.body.trim()) {
            await this.props.onSave(this.state.body);
        }
        this.props.close();
    }
}
