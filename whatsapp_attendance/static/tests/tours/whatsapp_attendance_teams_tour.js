import { registry } from "@web/core/registry";

/**
 * An attendant of the Sales team: the Discuss queue shows the customers waiting for Sales
 * (labelled with the team) and for the general queue, never Support's; they send the customer
 * they attend to the Support team's queue.
 */
registry.category("web_tour.tours").add("whatsapp_attendance_teams_tour", {
    steps: () => [
        {
            content: "A Sales customer, labelled with the team",
            trigger: ".o-whatsapp-QueueItem:contains(Lia Sales) .o-whatsapp-QueueItem-team.o_tag_color_10:contains(Tour Sales)",
        },
        {
            content: "The general queue's customer, with no team label",
            trigger: ".o-whatsapp-QueueItem:contains(Gil General):not(:has(.o-whatsapp-QueueItem-team))",
        },
        {
            content: "Support's customer is not in a Sales attendant's queue",
            trigger: ".o-whatsapp-Queue:not(:has(.o-whatsapp-QueueItem:contains(Tom Support))) .o-whatsapp-Queue-count:contains(2)",
        },
        {
            content: "Open the conversation with Nina",
            trigger: ".o-mail-DiscussSidebarChannel:contains(Nina Transfer)",
            run: "click",
        },
        {
            trigger: ".o-mail-Discuss .o-mail-Message:contains(A tela não liga)",
        },
        {
            content: "Transfer her to a team",
            trigger: ".o-mail-Discuss-header button[title='Transfer']",
            run: "click",
        },
        {
            trigger: ".modal .o_field_widget[name=transfer_to] input[data-value=team]",
            run: "click",
        },
        {
            trigger: ".modal .o_field_widget[name=team_id] input",
            run: "edit Tour Support",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(Tour Support)",
            run: "click",
        },
        {
            trigger: ".modal footer button[name=action_transfer]",
            run: "click",
        },
        {
            content: "Said so, and the conversation leaves Ana's sidebar",
            trigger: ".o_notification:contains(was transferred to the Tour Support queue)",
        },
        {
            trigger: ".o-mail-DiscussSidebar:not(:has(.o-mail-DiscussSidebarChannel:contains(Nina Transfer)))",
        },
        {
            content: "She waits for Support: not in Ana's queue",
            trigger: ".o-whatsapp-Queue:not(:has(.o-whatsapp-QueueItem:contains(Nina Transfer))) .o-whatsapp-Queue-count:contains(2)",
        },
    ],
});
