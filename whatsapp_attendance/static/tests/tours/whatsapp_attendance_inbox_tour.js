import { registry } from "@web/core/registry";

/**
 * An attendant's day in the Discuss inbox. Meanwhile the test plays the customer and the bridge:
 * a new customer writes (the queue grows live and a notification pops up), the attendant takes
 * them from the sidebar, answers, sees the ticks move to read, calls, transfers to a colleague.
 */
registry.category("web_tour.tours").add("whatsapp_attendance_inbox_tour", {
    steps: () => [
        {
            content: "The WhatsApp queue is in the Discuss sidebar with the customer already waiting",
            trigger: ".o-whatsapp-Queue:has(.o-whatsapp-QueueItem:contains(Lia Waiting))",
        },
        {
            content: "A new customer writes: the queue grows live, oldest first",
            trigger: ".o-whatsapp-Queue .o-whatsapp-QueueItem:eq(1):contains(Nina Live)",
            timeout: 20000,
        },
        {
            trigger: ".o-whatsapp-Queue-count:contains(2)",
        },
        {
            content: "Nobody misses her: a notification with a Take button",
            trigger: ".o_notification:contains(New WhatsApp customer):contains(Nina Live) button:contains(Take)",
        },
        {
            content: "Take her from the sidebar",
            trigger: ".o-whatsapp-QueueItem:contains(Nina Live) .o-whatsapp-QueueItem-take",
            run: "click",
        },
        {
            content: "Her conversation opens, in the WhatsApp section; she left the queue",
            trigger: ".o-mail-DiscussSidebar .o-mail-DiscussSidebarChannel:contains(Nina Live)",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Message:contains(Vocês entregam hoje?)",
        },
        {
            trigger: ".o-whatsapp-Queue:not(:has(.o-whatsapp-QueueItem:contains(Nina Live))) .o-whatsapp-Queue-count:contains(1)",
        },
        {
            content: "No internal call buttons in a customer's conversation",
            trigger: ".o-mail-Discuss-header:not(:has([title='Start a Call'])):not(:has([title='Start a Video Call']))",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: "edit Entregamos sim, até as 18h!",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: "press Enter",
        },
        {
            content: "The reply is on its way...",
            trigger: ".o-mail-Message:contains(Entregamos sim) .o-whatsapp-Tick",
        },
        {
            content: "...and the ticks follow WhatsApp live, up to read",
            trigger: ".o-mail-Message:contains(Entregamos sim) .o-whatsapp-Tick[data-state=read]",
            timeout: 20000,
        },
        {
            content: "Call the customer: the phone link opens on the attendant's device",
            trigger: ".o-mail-Discuss-header button[title='Call the customer (phone)']",
            run() {
                const { browser } = odoo.loader.modules.get("@web/core/browser/browser");
                browser.open = (url) => document.body.setAttribute("data-opened-url", url);
                this.anchor.click();
            },
        },
        {
            content: "The call is logged in the conversation",
            trigger: ".o-mail-Discuss .o-mail-Thread:contains(called Nina Live by phone)",
        },
        {
            trigger: "body[data-opened-url^='tel:+55119']",
        },
        {
            content: "Transfer to a colleague",
            trigger: ".o-mail-Discuss-header button[title='Transfer']",
            run: "click",
        },
        {
            trigger: ".modal .o_field_widget[name=user_id] input",
            run: "edit Bruno",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(Bruno Inbox)",
            run: "click",
        },
        {
            trigger: ".modal footer button[name=action_transfer]",
            run: "click",
        },
        {
            content: "Done: said so, and the conversation leaves Ana's sidebar",
            trigger: ".o_notification:contains(was transferred to Bruno Inbox)",
        },
        {
            trigger: ".o-mail-DiscussSidebar:not(:has(.o-mail-DiscussSidebarChannel:contains(Nina Live)))",
        },
    ],
});
