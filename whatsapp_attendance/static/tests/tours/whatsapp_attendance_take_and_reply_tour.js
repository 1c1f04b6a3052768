import { registry } from "@web/core/registry";

/**
 * An attendant opens the queue, takes the waiting service of "Tour Customer", lands in
 * its Discuss conversation with the customer's message, and answers from the composer.
 */
registry.category("web_tour.tours").add("whatsapp_attendance_take_and_reply_tour", {
    steps: () => [
        {
            content: "The waiting service is in the queue",
            trigger: ".o_kanban_record:contains(Tour Customer) button:contains(Take)",
            run: "click",
        },
        {
            content: "Taking it opens the conversation in Discuss, with the customer's message",
            trigger: ".o-mail-Discuss .o-mail-Message:contains(Where is my parcel?)",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: "edit It ships today, Tour Customer!",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: "press Enter",
        },
        {
            content: "The reply is in the conversation",
            trigger: ".o-mail-Discuss .o-mail-Message:contains(It ships today, Tour Customer!)",
        },
    ],
});
