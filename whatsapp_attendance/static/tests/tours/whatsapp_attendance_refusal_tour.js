import { registry } from "@web/core/registry";

/**
 * In a service channel, an attendant whose post the server refuses sees the server's
 * reason at once and keeps what they typed; no grey ⚠ message is left behind.
 *
 * @param {string} customerText a message of the customer, to know the conversation is open
 * @param {string} reply what the attendant types
 * @param {string} reason a part of the server's refusal
 */
function refusalSteps(customerText, reply, reason) {
    return [
        {
            content: "The conversation with the customer is open in Discuss",
            trigger: `.o-mail-Discuss .o-mail-Message:contains(${customerText})`,
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: `edit ${reply}`,
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: "press Enter",
        },
        {
            content: "The server's reason is shown",
            trigger: `.o_notification:has(.o_notification_bar.bg-danger):contains(${reason})`,
        },
        {
            content: "What was typed is back in the composer",
            trigger: `.o-mail-Discuss .o-mail-Composer-input:value(${reply})`,
        },
        {
            content: "No pending or failed copy of the message is left in the conversation",
            trigger: `.o-mail-Discuss .o-mail-Thread:not(:has(.o-mail-Message:contains(${reply})))`,
        },
    ];
}

registry.category("web_tour.tours").add("whatsapp_attendance_refusal_colleague_tour", {
    steps: () =>
        refusalSteps("Is my order ready?", "Bruno answers anyway", "is attended by Ana Refusal"),
});

registry.category("web_tour.tours").add("whatsapp_attendance_refusal_finished_tour", {
    steps: () =>
        refusalSteps("Thanks, bye!", "One more thing, Carla", "is finished"),
});

registry.category("web_tour.tours").add("whatsapp_attendance_refusal_ended_number_tour", {
    steps: () =>
        refusalSteps("Still open on Monday?", "Yes, from 9 am", "was ended"),
});
