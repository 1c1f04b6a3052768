import { onWillUnmount } from "@odoo/owl";

import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { formView } from "@web/views/form/form_view";
import { FormController } from "@web/views/form/form_controller";

/**
 * The WhatsApp account form follows its session live: the bridge reports each state (a new QR code
 * as it rotates, the pairing code, connected, logged out, failed with the reason) and the server
 * tells the administrators' pages over the bus ("whatsapp.account/session"); the open record
 * reloads itself, no page reload. A form with unsaved edits is left alone until they are saved.
 */
export class WhatsappAccountFormController extends FormController {
    setup() {
        super.setup();
        const bus = useService("bus_service");
        const onSession = (payload) => {
            const record = this.model.root;
            if (payload?.id !== record.resId || record.dirty || record.isNew) {
                return;
            }
            record.load();
        };
        bus.subscribe("whatsapp.account/session", onSession);
        onWillUnmount(() => bus.unsubscribe("whatsapp.account/session", onSession));
    }
}

registry.category("views").add("whatsapp_account_form", {
    ...formView,
    Controller: WhatsappAccountFormController,
});
