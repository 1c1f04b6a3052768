import { registry } from "@web/core/registry";

/**
 * An administrator starts the WhatsApp Web session of an account: the QR code the bridge reports
 * appears on the open form, changes as it rotates, and the state turns Connected once the phone
 * scanned it, all without reloading the page.
 */
registry.category("web_tour.tours").add("whatsapp_account_session_tour", {
    steps: () => [
        {
            content: "The account form is open, disconnected, with the unofficial-client warning",
            trigger: ".o_form_view:has(.alert-warning:contains(Unofficial client)) div[name=session_state]:contains(Disconnected)",
            run() {
                window.__waSessionNoReload = true; // gone if the page reloads
            },
        },
        {
            content: "Start the session",
            trigger: ".o_form_view .o_form_statusbar button[name=action_session_start]:contains(Start session)",
            run: "click",
        },
        {
            content: "The QR code the bridge reported is shown",
            trigger: ".o_whatsapp_session_qr img",
            run() {
                window.__waFirstQr = this.anchor.getAttribute("src");
            },
        },
        {
            content: "It follows the rotation: a new QR code replaces the first one",
            trigger: ".o_whatsapp_session_qr img",
            async run() {
                for (let i = 0; i < 300; i++) {
                    const img = document.querySelector(".o_whatsapp_session_qr img");
                    if (img && img.getAttribute("src") !== window.__waFirstQr) {
                        return;
                    }
                    await new Promise((resolve) => setTimeout(resolve, 100));
                }
                throw new Error("the QR code did not change");
            },
        },
        {
            content: "The phone scanned it: connected, the QR code is gone, no reload happened",
            trigger: ".o_form_view div[name=session_state].o_field_badge:contains(Connected)",
            run() {
                if (!window.__waSessionNoReload) {
                    throw new Error("the page was reloaded");
                }
                if (document.querySelector(".o_whatsapp_session_qr img")) {
                    throw new Error("the QR code is still shown");
                }
            },
        },
        {
            content: "Connected since and the uptime are shown",
            trigger: ".o_form_view div[name=session_uptime]:contains(min)",
        },
    ],
});
