import { registry } from "@web/core/registry";

/** The administrator picks the country from a list and the forward number's ring time. */
registry.category("web_tour.tours").add("ip_telephony_call_settings", {
    url: "/odoo/settings#ip_telephony",
    steps: () => [
        {
            content: "The country is a country, not a code",
            trigger: "div[name=telephony_country_id] input",
            run: "edit Germ",
        },
        {
            content: "Pick Germany",
            trigger: ".o-autocomplete--dropdown-item:contains(Germany)",
            run: "click",
        },
        {
            content: "Set a forward number",
            trigger: "div[name=telephony_forward_number] input",
            run: "edit +49 30 1234567",
        },
        {
            content: "It rings for its own time, apart from the users' phones",
            trigger: "div[name=telephony_forward_ring_time] input",
            run: "edit 25",
        },
        {
            content: "The card's fields are fields, not technical names: drop the job position",
            trigger: "div[name=telephony_card_field_ids] .o_tag:contains(Job Position) .o_delete",
            run: "click",
        },
        {
            content: "Add the city",
            trigger: "div[name=telephony_card_field_ids] input",
            run: "edit City",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(City)",
            run: "click",
        },
        {
            content: "The city comes after the others",
            trigger: "div[name=telephony_card_field_ids] .o_tag:last-of-type:contains(City)",
        },
        {
            content: "Type the callback address",
            trigger: "div[name=telephony_odoo_url] input",
            run: "edit https://crm.example.com",
        },
        {
            content: "and leave the field",
            trigger: "div[name=telephony_odoo_url] input",
            run() {
                this.anchor.dispatchEvent(new Event("change", { bubbles: true }));
            },
        },
        {
            content: "The engine's start command, ready to copy, uses it",
            trigger: ".o_ipt_engine_command:contains(--odoo-url https://crm.example.com --key eng_)",
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run() {
                // Saving the settings reloads the page: this mark goes with the old one.
                document.body.classList.add("o_ipt_before_save");
                this.anchor.click();
            },
        },
        {
            content: "Saved and reloaded: Germany is still shown",
            trigger: "body:not(.o_ipt_before_save) div[name=telephony_country_id] input:value(Germany)",
            timeout: 30000,
        },
    ],
});
