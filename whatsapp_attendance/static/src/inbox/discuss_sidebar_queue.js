import { Component, onWillStart, useState } from "@odoo/owl";

import { DiscussSidebarCategories } from "@mail/discuss/core/public_web/discuss_sidebar_categories";
import { useService } from "@web/core/utils/hooks";
import { patch } from "@web/core/utils/patch";
import { deserializeDateTime } from "@web/core/l10n/dates";

/** The WhatsApp queue in the Discuss sidebar: waiting customers, oldest first, each with Take. */
export class DiscussSidebarWhatsappQueue extends Component {
    static template = "whatsapp_attendance.DiscussSidebarWhatsappQueue";
    static props = {};

    setup() {
        this.store = useState(useService("mail.store"));
        this.queue = useService("whatsapp_attendance.queue");
        this.queueState = useState(this.queue.state);
        this.state = useState({ open: true });
        onWillStart(() => this.queue.load());
    }

    waitedFor(service) {
        return deserializeDateTime(service.opened_at).toRelative();
    }
}

patch(DiscussSidebarCategories, {
    components: { ...DiscussSidebarCategories.components, DiscussSidebarWhatsappQueue },
});
