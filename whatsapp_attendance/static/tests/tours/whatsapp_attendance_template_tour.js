import { registry } from "@web/core/registry";

/**
 * The customer last wrote 25 hours ago. The attendant opens the conversation: the composer says
 * WhatsApp only takes an approved template now; a free-form message is refused with that reason;
 * the template picker shows the approved template filled for this customer, and sends it.
 */
registry.category("web_tour.tours").add("whatsapp_attendance_template_tour", {
    steps: () => [
        {
            content: "The conversation is open",
            trigger: ".o-mail-Discuss .o-mail-Message:contains(Preciso de ajuda com o pedido)",
        },
        {
            content: "The composer says the 24-hour window is closed",
            trigger:
                ".o-mail-Discuss .o-whatsapp-WindowBanner:contains(The customer last wrote 25 hours ago: WhatsApp only lets you send an approved template.)",
        },
        {
            content: "A free-form message anyway...",
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: "edit Oi Rita, ainda precisa de ajuda?",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: "press Enter",
        },
        {
            content: "...is refused with the same reason, before WhatsApp could fail it",
            trigger: ".o_notification:has(.o_notification_bar.bg-danger):contains(last wrote 25 hours ago)",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Composer-input:value(Oi Rita, ainda precisa de ajuda?)",
        },
        {
            content: "Open the template picker",
            trigger: ".o-mail-Discuss .o-whatsapp-WindowBanner-pick",
            run: "click",
        },
        {
            content: "The approved template in the customer's language comes first, the draft one is not offered",
            trigger:
                ".o-whatsapp-TemplatePicker .o-whatsapp-TemplatePicker-item:first[data-template=retomar_atendimento].active",
        },
        {
            trigger: ".o-whatsapp-TemplatePicker:not(:has([data-template=rascunho_nao_aprovado]))",
        },
        {
            content: "The preview is filled for this customer and this service",
            trigger:
                ".o-whatsapp-TemplatePreview-body:contains(Olá Rita Silent! Sobre o atendimento):contains(Ana Template pode continuar)",
        },
        {
            trigger: ".o-whatsapp-TemplatePreview:contains(Sim, continuar)",
        },
        {
            content: "Send it",
            trigger: ".o-whatsapp-TemplatePicker-send",
            run: "click",
        },
        {
            content: "The attendant is told it went",
            trigger: ".o_notification:contains(Template retomar_atendimento sent to Rita Silent)",
        },
        {
            content: "The template is in the conversation as the attendant's message...",
            trigger: ".o-mail-Discuss .o-mail-Message:contains(Ana Template):contains(Olá Rita Silent! Sobre o atendimento)",
        },
        {
            content: "...on its way to WhatsApp",
            trigger:
                ".o-mail-Discuss .o-mail-Message:contains(Olá Rita Silent! Sobre o atendimento) .o-whatsapp-Tick",
        },
        {
            trigger: "body:not(:has(.o-whatsapp-TemplatePicker))",
        },
        {
            content: "The window is still closed (only the customer reopens it): the banner stays",
            trigger: ".o-mail-Discuss .o-whatsapp-WindowBanner",
        },
    ],
});
