import { registry } from "@web/core/registry";

function threadNamed(name) {
    const store = odoo.__WOWL_DEBUG__.root.env.services["mail.store"];
    return Object.values(store.Thread.records).find(
        (thread) => thread.model === "discuss.channel" && thread.displayName?.includes(name)
    );
}

/**
 * Ana has Carla's conversation open and Davi's in her sidebar. The bridge delivers one batch with
 * messages of both (a reply, a reaction, an image among them): everything shows up live, in order,
 * where it belongs, as the same messages delivered one by one did.
 */
registry.category("web_tour.tours").add("whatsapp_attendance_batch_tour", {
    steps: () => [
        {
            content: "Carla's conversation is open",
            trigger: ".o-mail-Discuss .o-mail-Message:contains(Oi, sou a Carla)",
        },
        {
            content: "The batch arrives: Carla's last message shows without a reload",
            trigger: ".o-mail-Discuss .o-mail-Message:contains(Terceira do lote)",
            timeout: 30000,
        },
        {
            content: "Carla's messages of the batch, in the order she sent them, and none of Davi's",
            trigger: ".o-mail-Discuss .o-mail-Thread",
            run() {
                const texts = [...this.anchor.querySelectorAll(".o-mail-Message-body")].map((el) =>
                    el.textContent.trim()
                );
                const expected = [
                    "Oi, sou a Carla",
                    "Primeira do lote",
                    "Respondendo a mim mesma",
                    "Terceira do lote",
                ];
                const shown = texts.filter((text) => expected.includes(text));
                if (JSON.stringify(shown) !== JSON.stringify(expected)) {
                    throw new Error(`messages out of order: ${JSON.stringify(texts)}`);
                }
                if (texts.some((text) => text.includes("Davi no lote"))) {
                    throw new Error("Davi's message shows in Carla's conversation");
                }
            },
        },
        {
            content: "The reply points at the message it answers",
            trigger:
                ".o-mail-Message:contains(Respondendo a mim mesma) .o-mail-MessageInReply:contains(Oi, sou a Carla)",
        },
        {
            content: "The reaction sits on the message it reacts to",
            trigger: ".o-mail-Message:contains(Oi, sou a Carla) .o-mail-MessageReaction:contains(👍)",
        },
        {
            content: "Davi's conversation is marked unread in the sidebar...",
            trigger:
                ".o-mail-DiscussSidebarChannel.o-item-unread:contains(Davi Batch), .o-mail-DiscussSidebarChannel:contains(Davi Batch) .o-item-unread",
        },
        {
            content: "...with his two new messages counted",
            trigger: ".o-mail-DiscussSidebarChannel:contains(Davi Batch)",
            run() {
                const counter = threadNamed("Davi Batch")?.selfMember?.message_unread_counter;
                if (counter !== 2) {
                    throw new Error(`Davi's unread counter is ${counter}, expected 2`);
                }
                const carla = threadNamed("Carla Batch")?.selfMember?.message_unread_counter;
                if (carla !== 0 && carla !== 3) {
                    throw new Error(`Carla's unread counter is ${carla}`);
                }
            },
        },
        {
            content: "Ana is notified of Davi's message",
            trigger: ".o_notification:contains(Davi no lote)",
        },
        {
            content: "Open Davi's conversation",
            trigger: ".o-mail-DiscussSidebarChannel:contains(Davi Batch)",
            run: "click",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Message:contains(Davi no lote)",
        },
        {
            content: "His image is in the conversation: open it",
            trigger: ".o-mail-Discuss .o-mail-Message .o-mail-AttachmentImage img",
            run: "click",
        },
        {
            content: "The image opens in the viewer",
            trigger: ".o-FileViewer img",
        },
    ],
});
