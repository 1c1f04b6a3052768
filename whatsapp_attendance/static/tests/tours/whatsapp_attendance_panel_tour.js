import { registry } from "@web/core/registry";

/** The customer panel beside a conversation, and an internal note for colleagues. */
registry.category("web_tour.tours").add("whatsapp_attendance_panel_tour", {
    steps: () => [
        {
            trigger: ".o-mail-Discuss .o-mail-Message:contains(Quero trocar de novo)",
        },
        {
            content: "Open the customer panel",
            trigger: ".o-mail-Discuss-header button[title='Customer']",
            run: "click",
        },
        {
            content: "The contact card and the earlier service, with its attendant and rating",
            trigger: ".o-whatsapp-CustomerPanel:contains(Zeca Panel):contains(+55 11 95555-0101)",
        },
        {
            trigger: ".o-whatsapp-CustomerPanel-service:contains(Bruno Panel) .fa-smile-o",
        },
        {
            content: "Tag the customer in place",
            trigger: ".o-whatsapp-CustomerPanel-newTag",
            run: "edit Atacado && press Enter",
        },
        {
            trigger: ".o-whatsapp-CustomerPanel-tags .badge:contains(Atacado)",
        },
        {
            trigger: ".o-whatsapp-CustomerPanel-editNote",
            run: "click",
        },
        {
            trigger: ".o-whatsapp-CustomerPanel-note",
            run: "edit Só atende depois das 18h",
        },
        {
            trigger: ".o-whatsapp-CustomerPanel-saveNote",
            run: "click",
        },
        {
            trigger: ".o-whatsapp-CustomerPanel:contains(Só atende depois das 18h)",
        },
        {
            content: "Pin the customer",
            trigger: ".o-whatsapp-CustomerPanel-favorite .fa-star-o",
            run: "click",
        },
        {
            trigger: ".o-whatsapp-CustomerPanel-favorite .fa-star",
        },
        {
            content: "An internal note for colleagues",
            trigger: ".o-mail-Discuss-header button[title='Internal note']",
            run: "click",
        },
        {
            trigger: ".o-whatsapp-NoteDialog-body",
            run: "edit Cliente antigo, oferecer frete grátis",
        },
        {
            trigger: ".o-whatsapp-NoteDialog-save",
            run: "click",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Message:contains(oferecer frete grátis)",
        },
    ],
});

/** A colleague with whom the service is shared read-only: reads it, cannot answer the customer. */
registry.category("web_tour.tours").add("whatsapp_attendance_readonly_tour", {
    steps: () => [
        {
            content: "The shared conversation is in the WhatsApp section",
            trigger: ".o-mail-DiscussSidebarChannel:contains(Zeca Panel)",
            run: "click",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Message:contains(Quero trocar de novo)",
        },
        {
            content: "Before typing, they are told they read it only",
            trigger: ".o-whatsapp-ComposerNotice:contains(Shared with you read-only)",
        },
        {
            content: "No service action is offered to them",
            trigger: ".o-mail-Discuss-header:not(:has(button[title='Finish'])):not(:has(button[title='Transfer']))",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: "edit Posso ajudar?",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: "press Enter",
        },
        {
            content: "The post is refused with the reason, and the text is kept",
            trigger: ".o_notification:contains(shared with you read-only)",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Composer-input:value(Posso ajudar?)",
        },
    ],
});
