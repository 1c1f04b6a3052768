import { registry } from "@web/core/registry";
import { rpc } from "@web/core/network/rpc";

const card = (figure, value) =>
    `.o_whatsapp_dashboard .o_wa_dashboard_card[data-figure=${figure}] .o_wa_dashboard_value:contains(${value})`;

/**
 * A supervisor opens the dashboard (today: two services finished, five open), clicks through
 * "Finished in the period" to its two services, comes back, follows an attendant's figure, and
 * sees "Waiting now" drop live when the waiting customer is taken.
 */
registry.category("web_tour.tours").add("whatsapp_attendance_dashboard_tour", {
    steps: () => [
        { content: "Today's figures", trigger: card("finished", 2) },
        { trigger: card("open", 5) },
        { trigger: card("waiting_now", 1) },
        { content: "The charts are drawn", trigger: ".o_whatsapp_dashboard canvas" },
        {
            content: "Finished in the period opens its services",
            trigger: ".o_wa_dashboard_card[data-figure=finished]",
            run: "click",
        },
        { trigger: ".o_list_view .o_data_row:contains(Cliente 1004)" },
        { trigger: ".o_list_view .o_data_row:contains(Cliente 1005)" },
        {
            content: "Only those two",
            trigger: ".o_list_view",
            run() {
                const rows = document.querySelectorAll(".o_list_view .o_data_row").length;
                if (rows !== 2) {
                    throw new Error(`2 finished services expected, ${rows} listed`);
                }
            },
        },
        { content: "Back to the dashboard", trigger: ".o_breadcrumb a:contains(Dashboard)", run: "click" },
        {
            content: "Ana Click's open services",
            trigger: ".o_wa_dashboard_attendants tr:contains(Ana Click) .o_wa_attendant_open:contains(3)",
            run: "click",
        },
        { trigger: ".o_list_view .o_data_row:contains(Maria Every)" },
        { trigger: ".o_breadcrumb a:contains(Dashboard)", run: "click" },
        { trigger: ".o_wa_period_selector button[data-period=week]", run: "click" },
        { trigger: ".o_wa_period_selector button.btn-primary[data-period=week]" },
        { trigger: card("finished", 2) },
        {
            content: "Somebody takes the waiting customer",
            trigger: card("waiting_now", 1),
            async run() {
                const ids = await rpc("/web/dataset/call_kw/whatsapp.service/search", {
                    model: "whatsapp.service",
                    method: "search",
                    args: [[["state", "=", "waiting"]]],
                    kwargs: {},
                });
                await rpc("/web/dataset/call_kw/whatsapp.service/action_take", {
                    model: "whatsapp.service",
                    method: "action_take",
                    args: [ids],
                    kwargs: {},
                });
            },
        },
        { content: "The dashboard follows live", trigger: card("waiting_now", 0) },
    ],
});
