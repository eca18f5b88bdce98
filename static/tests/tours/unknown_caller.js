import { registry } from "@web/core/registry";

const CARD = ".o_ipt_call_cards .o_ipt_call_card";

/** B3 and F14: an unknown caller becomes a contact; a call taken by a colleague closes. */
registry.category("web_tour.tours").add("ip_telephony_unknown_caller", {
    url: "/odoo",
    steps: () => [
        {
            content: "An unknown number rings",
            trigger: `${CARD}[data-state=ringing]:contains(+74951234000):contains(Unknown caller)`,
            timeout: 20000,
        },
        {
            content: "Create a contact from the card",
            trigger: `${CARD}:contains(+74951234000) .o_ipt_call_card_create`,
            run: "click",
        },
        {
            content: "The new contact has the caller's number",
            trigger: ".modal .o_form_view .o_field_widget[name=phone] input",
            run() {
                if (this.anchor.value.replace(/\D/g, "") !== "74951234000") {
                    throw new Error(`The phone is ${this.anchor.value}`);
                }
            },
        },
        {
            content: "Name the contact",
            trigger: ".modal .o_form_view .o_field_widget[name=name] input",
            run: "edit New Caller",
        },
        {
            content: "Save it",
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            content: "The card now names the contact and opens it",
            trigger: `${CARD}:contains(+74951234000):contains(New Caller) .o_ipt_call_card_open`,
            timeout: 20000,
        },
        {
            content: "Another unknown number rings here and at a colleague's",
            trigger: `${CARD}[data-state=ringing]:contains(+74957654321) .o_ipt_call_card_create`,
            timeout: 20000,
            run: "click",
        },
        {
            content: "A colleague takes it",
            trigger: `${CARD}:contains(+74957654321) .o_ipt_call_card_state:contains(Answered by Sally Sales)`,
            timeout: 20000,
        },
        {
            content: "and its card closes by itself",
            trigger: `body:not(:has(${CARD}:contains(+74957654321)))`,
            timeout: 20000,
        },
        {
            content: "Drop the second new contact",
            trigger: ".modal .o_form_button_cancel",
            run: "click",
        },
    ],
});
