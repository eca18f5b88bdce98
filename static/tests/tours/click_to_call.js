import { registry } from "@web/core/registry";

/** F11: call icons in list, form and kanban; saving first; refusals. */
registry.category("web_tour.tours").add("ip_telephony_click_to_call", {
    url: "/odoo/contacts?view_type=list",
    steps: () => [
        {
            content: "Switch to the contact cards",
            trigger: ".o_control_panel .o_switch_view.o_kanban",
            run: "click",
        },
        {
            content: "The card of Ivan Petrov shows his phone with a call icon",
            trigger:
                ".o_kanban_record:contains(Ivan Petrov) .o_field_widget[name=phone]:contains(916) .o_ipt_call_button",
        },
        {
            content: "Back to the list",
            trigger: ".o_control_panel .o_switch_view.o_list",
            run: "click",
        },
        {
            content: "Hover the row of Ivan Petrov: his phone has a call icon",
            trigger: ".o_list_view .o_data_row:contains(Ivan Petrov) td[name=phone]",
            run: "hover",
        },
        {
            content: "Call Ivan Petrov from the list",
            trigger:
                ".o_list_view .o_data_row:contains(Ivan Petrov) td[name=phone] .o_ipt_call_button",
            run: "click",
        },
        {
            content: "Immediate feedback while the user's phone rings",
            trigger: ".o_notification.o_ipt_calling",
        },
        {
            content: "The click did not open the contact",
            trigger: ".o_list_view .o_data_row:contains(Ivan Petrov)",
        },
        {
            content: "Open the company",
            trigger: ".o_list_view .o_data_row td[name=complete_name]:contains(Petrov and Sons)",
            run: "click",
        },
        {
            content: "The contacts of the company (a kanban) have call icons too",
            trigger:
                ".o_form_view .o_field_widget[name=child_ids] .o_kanban_record:contains(Olga Petrova) .o_ipt_call_button",
            run: "click",
        },
        {
            content: "The form's phone field has the call icon, not the tel: link",
            trigger:
                ".o_form_view .o_field_widget[name=phone]:has(.o_ipt_call_button):not(:has(.o_phone_form_link))",
        },
        {
            content: "Type a number the rules refuse",
            trigger: ".o_form_view .o_field_widget[name=phone] input",
            run: "edit +44 20 7946 0000",
        },
        {
            content: "Call it: the form is saved first",
            trigger: ".o_form_view .o_field_widget[name=phone] .o_ipt_call_button",
            run: "click",
        },
        {
            content: "The refusal is explained",
            trigger: ".o_notification.o_ipt_call_refused:contains(Calls to +44 are not allowed)",
        },
        {
            content: "The record was saved",
            trigger: ".o_form_view .o_form_saved",
        },
    ],
});
