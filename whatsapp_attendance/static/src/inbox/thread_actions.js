import { threadActionsRegistry } from "@mail/core/common/thread_actions";
import { WhatsappCustomerPanel } from "./customer_panel";
import { WhatsappNoteDialog } from "./note_dialog";

import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { browser } from "@web/core/browser/browser";
import { _t } from "@web/core/l10n/translation";

/** Service actions in the header of a WhatsApp conversation (Discuss and chat windows). */

function service(component) {
    return component.thread?.channel_type === "whatsapp" ? component.thread.whatsapp_service : undefined;
}

async function callService(component, method, args = [], context = {}) {
    const orm = component.env.services.orm;
    return orm.call("whatsapp.service", method, [[service(component).id], ...args], { context });
}

/**
 * Call the customer from the attendant's own device (a tel: or wa.me link); the conversation
 * keeps a note of the call.
 */
function callAction(urlKey, via, target, icon, name, sequence) {
    return {
        condition: (component) => Boolean(service(component)?.[urlKey]) && component.thread.whatsappCanAct,
        icon: `fa fa-fw ${icon}`,
        iconLarge: `fa fa-fw fa-lg ${icon}`,
        name,
        async open(component) {
            browser.open(service(component)[urlKey], target);
            await callService(component, "action_log_call", [via]);
            await component.thread.fetchNewMessages();
        },
        sequence,
    };
}

threadActionsRegistry
    .add("whatsapp-take", {
        condition: (component) => service(component)?.state === "waiting",
        icon: "fa fa-fw fa-hand-paper-o",
        iconLarge: "fa fa-fw fa-lg fa-hand-paper-o",
        name: _t("Take"),
        async open(component) {
            await component.env.services["whatsapp_attendance.queue"].take(service(component).id);
        },
        sequence: 1,
    })
    .add("whatsapp-call", callAction("call_url", "phone", "_self", "fa-phone", _t("Call the customer (phone)"), 2))
    .add(
        "whatsapp-call-whatsapp",
        callAction("whatsapp_url", "whatsapp", "_blank", "fa-whatsapp", _t("Call the customer on WhatsApp"), 3)
    )
    .add("whatsapp-transfer", {
        condition: (component) => component.thread?.whatsappCanAct,
        icon: "fa fa-fw fa-exchange",
        iconLarge: "fa fa-fw fa-lg fa-exchange",
        name: _t("Transfer"),
        async open(component) {
            const action = await callService(component, "action_transfer", [], {
                whatsapp_transfer_origin: "discuss",
            });
            await component.env.services.action.doAction(action);
        },
        sequence: 4,
    })
    .add("whatsapp-finish", {
        condition: (component) => component.thread?.whatsappCanAct,
        icon: "fa fa-fw fa-check-circle",
        iconLarge: "fa fa-fw fa-lg fa-check-circle",
        name: _t("Finish"),
        open(component) {
            const current = service(component);
            component.env.services.dialog.add(ConfirmationDialog, {
                title: _t("Finish %(service)s?", { service: current.name }),
                body: _t("%(customer)s will be asked to rate the service.", { customer: current.customer_name }),
                confirmLabel: _t("Finish"),
                confirm: () => callService(component, "action_finish"),
                cancel: () => {},
            });
        },
        sequence: 5,
    })
    .add("whatsapp-note", {
        condition: (component) => Boolean(service(component)) && Boolean(component.thread.selfMember),
        icon: "fa fa-fw fa-sticky-note-o",
        iconLarge: "fa fa-fw fa-lg fa-sticky-note-o",
        name: _t("Internal note"),
        open(component) {
            component.env.services.dialog.add(WhatsappNoteDialog, {
                onSave: (body) => callService(component, "action_post_note", [body]),
            });
        },
        sequence: 6,
    })
    .add("whatsapp-share", {
        condition: (component) =>
            Boolean(service(component)) &&
            service(component).state !== "done" &&
            (component.store.whatsapp_is_admin || component.store.whatsapp_is_supervisor),
        icon: "fa fa-fw fa-eye",
        iconLarge: "fa fa-fw fa-lg fa-eye",
        name: _t("Share read-only"),
        async open(component) {
            const action = await callService(component, "action_share_readonly");
            await component.env.services.action.doAction(action);
        },
        sequence: 7,
    })
    .add("whatsapp-customer", {
        component: WhatsappCustomerPanel,
        condition: (component) =>
            Boolean(service(component)) && (!component.props.chatWindow || component.props.chatWindow.isOpen),
        panelOuterClass: "o-whatsapp-CustomerPanelOuter bg-inherit",
        icon: "fa fa-fw fa-address-card-o",
        iconLarge: "fa fa-fw fa-lg fa-address-card-o",
        name: _t("Customer"),
        nameActive: _t("Close the customer panel"),
        sequence: 8,
        sequenceGroup: 7,
        toggle: true,
    });
