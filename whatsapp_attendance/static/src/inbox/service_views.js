import { onWillUnmount } from "@odoo/owl";

import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { useDebounced } from "@web/core/utils/timing";
import { kanbanView } from "@web/views/kanban/kanban_view";
import { KanbanController } from "@web/views/kanban/kanban_controller";
import { listView } from "@web/views/list/list_view";
import { ListController } from "@web/views/list/list_controller";

/** The queue and service lists follow the queue live: new customers appear, taken ones move. */
function useLiveServices(controller) {
    const queue = useService("whatsapp_attendance.queue");
    const reload = useDebounced(() => controller.model.load(), 300);
    const stop = queue.onChange(() => reload());
    onWillUnmount(stop);
}

export class WhatsappServiceKanbanController extends KanbanController {
    setup() {
        super.setup();
        useLiveServices(this);
    }
}

export class WhatsappServiceListController extends ListController {
    setup() {
        super.setup();
        useLiveServices(this);
    }
}

registry.category("views").add("whatsapp_service_kanban", {
    ...kanbanView,
    Controller: WhatsappServiceKanbanController,
});
registry.category("views").add("whatsapp_service_list", {
    ...listView,
    Controller: WhatsappServiceListController,
});
