import { DiscussApp } from "@mail/core/public_web/discuss_app_model";
import { Record } from "@mail/core/common/record";

import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";

/** The WhatsApp section of the Discuss sidebar: the conversations the user attends. */
patch(DiscussApp.prototype, {
    setup(env) {
        super.setup(env);
        this.whatsappCategory = Record.one("DiscussAppCategory", {
            compute() {
                return {
                    extraClass: "o-mail-DiscussSidebarCategory-whatsapp",
                    icon: "fa fa-whatsapp",
                    hideWhenEmpty: true,
                    id: "whatsapp_attendance.category_services",
                    name: _t("My WhatsApp services"),
                    sequence: 5,
                };
            },
        });
        this.whatsappThreads = Record.many("Thread", { inverse: "appAsWhatsapp" });
    },
});
