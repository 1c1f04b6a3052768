import { registry } from "@web/core/registry";

function addOption(name, actionLabel, extra = []) {
    return [
        {
            content: `Add the option ${name}`,
            trigger: "div[name=option_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            trigger: "div[name=option_ids] .o_data_row.o_selected_row div[name=name] input",
            run: `edit ${name}`,
        },
        {
            trigger: "div[name=option_ids] .o_data_row.o_selected_row div[name=action] select",
            run: `selectByLabel ${actionLabel}`,
        },
        ...extra,
    ];
}

function pick(field, value) {
    return [
        {
            trigger: `div[name=option_ids] .o_data_row.o_selected_row div[name=${field}] input`,
            run: `edit ${value}`,
        },
        {
            trigger: `.o-autocomplete--dropdown-item:contains(${value})`,
            run: "click",
        },
    ];
}

function newMenu(name, body) {
    return [
        {
            content: `A new menu: ${name}`,
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            trigger: ".o_form_view div[name=name] input",
            run: `edit ${name}`,
        },
        {
            trigger: ".o_form_view div[name=body] textarea",
            run: `edit ${body}`,
        },
    ];
}

function saveAndBack(name) {
    return [
        {
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            trigger: ".o_form_view .o_form_saved",
        },
        {
            content: "Back to the menus",
            trigger: ".o_breadcrumb .o_back_button a, .o_breadcrumb .breadcrumb-item a",
            run: "click",
        },
        {
            trigger: `.o_list_view .o_data_row:contains(${name})`,
        },
    ];
}

/**
 * An administrator builds a two-level menu in WhatsApp → Configuration → Menu: the sub-menu
 * "Financeiro Tour" (an answer with a canned text, a hand-off to a person), then the main menu, whose
 * options route to the team "Vendas Tour" and open the sub-menu.
 */
registry.category("web_tour.tours").add("whatsapp_attendance_menu_tour", {
    steps: () => [
        ...newMenu("Financeiro Tour", "Sobre o quê?"),
        ...addOption("Boleto", "Answer and ask again", [
            {
                trigger: "div[name=option_ids] .o_data_row.o_selected_row div[name=answer] textarea",
                run: "edit Segue o seu boleto.",
            },
        ]),
        ...addOption("Falar com alguém", "Hand to an attendant"),
        ...saveAndBack("Financeiro Tour"),
        ...newMenu("Principal Tour", "Olá! Como podemos ajudar?"),
        ...addOption("Comprar", "Route to a team", pick("team_id", "Vendas Tour")),
        ...addOption("Boletos e pagamentos", "Open a sub-menu", pick("submenu_id", "Financeiro Tour")),
        ...saveAndBack("Principal Tour"),
    ],
});
