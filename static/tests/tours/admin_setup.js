import { registry } from "@web/core/registry";

/** Issue "Foundation", done when: an administrator enables telephony in
 * Settings > IP telephony, adds a SIP account and a telephony user, and
 * finds the call log menu. */
registry.category("web_tour.tours").add("ip_telephony_admin_setup", {
    url: "/odoo/settings#ip_telephony",
    steps: () => [
        {
            content: "Enable IP telephony",
            trigger: "button[name=action_telephony_enable]",
            run: "click",
        },
        {
            content: "Telephony is enabled",
            trigger: ".o_setting_container .badge:contains(Enabled)",
        },
        {
            content: "Open the SIP accounts",
            trigger: "button:contains(SIP accounts)",
            run: "click",
        },
        {
            content: "Add a SIP account",
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            content: "The form warns about double registration",
            trigger: ".o_form_view .alert-warning:contains(must not be registered)",
        },
        {
            trigger: "div[name=sip_user] input",
            run: "edit tell",
        },
        {
            trigger: "div[name=password] input",
            run: "edit trunk-secret",
        },
        {
            trigger: "div[name=domain] input",
            run: "edit sip.example.com",
        },
        {
            content: "Save the account",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "It waits for the engine's registration",
            trigger: ".o_form_saved div[name=registration_state]:contains(Waiting for an answer)",
        },
        {
            content: "Open the Telephony app",
            trigger: ".o_navbar_apps_menu button",
            run: "click",
        },
        {
            trigger: ".o_app:contains(Telephony)",
            run: "click",
        },
        {
            content: "The call log is there",
            trigger: ".o_breadcrumb:contains(Call log)",
        },
        {
            content: "Open Configuration > Telephony users",
            trigger: "button[data-menu-xmlid='ip_telephony.menu_telephony_config']",
            run: "click",
        },
        {
            trigger: "a[data-menu-xmlid='ip_telephony.menu_telephony_user']",
            run: "click",
        },
        {
            content: "The administrator who enabled telephony is user 101",
            trigger: ".o_list_view td[name=extension]:contains(101)",
        },
        {
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            trigger: "div[name=user_id] input",
            run: "edit Sally",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(Sally Sales)",
            run: "click",
        },
        {
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "The new telephony user gets the next extension and a generated login",
            trigger: ".o_form_saved div[name=sip_login]:contains(_102)",
        },
    ],
});
