import { Store } from "@mail/core/common/store_service";

import { patch } from "@web/core/utils/patch";

patch(Store.prototype, {
    setup() {
        super.setup(...arguments);
        /** set by res.users._init_store_data */
        this.whatsapp_is_attendant = false;
        this.whatsapp_is_admin = false;
        this.whatsapp_is_supervisor = false;
        /** the customers the user pinned (first in their WhatsApp section) */
        this.whatsapp_favorite_partner_ids = [];
    },
});
