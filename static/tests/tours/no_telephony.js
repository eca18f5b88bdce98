import { registry } from "@web/core/registry";

/** F8, F11: a user who is no telephony user sees plain phone fields. */
registry.category("web_tour.tours").add("ip_telephony_no_telephony", {
    url: "/odoo/contacts?view_type=list",
    steps: () => [
        {
            content: "The list shows Ivan Petrov's phone without a call icon",
            trigger:
                ".o_list_view .o_data_row:contains(Ivan Petrov) td[name=phone]:contains(8 (916) 123-45-67):not(:has(.o_ipt_call_button))",
        },
        {
            content: "Switch to the contact cards",
            trigger: ".o_control_panel .o_switch_view.o_kanban",
            run: "click",
        },
        {
            content: "The cards are Odoo's own: no phone, no call icon",
            trigger: ".o_kanban_record:contains(Ivan Petrov)",
            run() {
                if (document.querySelector(".o_kanban_record .o_field_widget[name=phone]")) {
                    throw new Error("The telephony phone line shows to a user without telephony");
                }
            },
        },
        {
            content: "Back to the list",
            trigger: ".o_control_panel .o_switch_view.o_list",
            run: "click",
        },
        {
            content: "No line status in the systray",
            trigger: ".o_menu_systray:not(:has(.o_ipt_line_status))",
        },
        {
            content: "Open Ivan Petrov",
            trigger: ".o_list_view .o_data_row td[name=complete_name]:contains(Ivan Petrov)",
            run: "click",
        },
        {
            content: "The form shows the usual tel: link and no call icon",
            trigger:
                ".o_form_view .o_field_widget[name=phone]:has(a[href^='tel:']):not(:has(.o_ipt_call_button))",
        },
        {
            content: "Nowhere a call icon",
            trigger: ".o_form_view .o_field_widget[name=phone]",
            run() {
                if (document.querySelector(".o_ipt_call_button, .o_ipt_call_cards")) {
                    throw new Error("A user without telephony sees telephony");
                }
            },
        },
    ],
});
