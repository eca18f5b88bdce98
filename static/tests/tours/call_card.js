import { registry } from "@web/core/registry";

const CARD = ".o_ipt_call_cards .o_ipt_call_card";

/** F14: the card follows the engine's events, ticks, survives a reload, closes. */
registry.category("web_tour.tours").add("ip_telephony_call_card", {
    url: "/odoo",
    steps: () => [
        {
            content: "The card shows the contact of the call while talking",
            trigger: `${CARD}[data-state=talking]:contains(Ivan Petrov)`,
            timeout: 20000,
        },
        {
            content: "with the fields the administrator picked",
            trigger: `${CARD} .o_ipt_call_card_field_email:contains(ivan@example.com)`,
        },
        {
            content: "and the salesperson",
            trigger: `${CARD} .o_ipt_call_card_field_user_id:contains(Sally Sales)`,
        },
        {
            content: "The timer ticks",
            trigger: `${CARD} .o_ipt_call_card_timer`,
            async run() {
                const start = this.anchor.textContent;
                const deadline = Date.now() + 5000;
                while (this.anchor.textContent === start) {
                    if (Date.now() > deadline) {
                        throw new Error(`The call timer is stuck at ${start}`);
                    }
                    await new Promise((resolve) => setTimeout(resolve, 100));
                }
            },
        },
        {
            content: "One click opens the contact",
            trigger: `${CARD} .o_ipt_call_card_open`,
            run: "click",
        },
        {
            content: "The contact's form is open",
            trigger: ".o_form_view .o_breadcrumb:contains(Ivan Petrov)",
        },
        {
            content: "Reload the page",
            trigger: `${CARD}[data-state=talking]`,
            run() {
                window.location.reload();
            },
        },
        {
            content: "The card of the call in progress is back after the reload",
            trigger: `${CARD}[data-state=talking]:contains(Ivan Petrov)`,
            timeout: 20000,
        },
        {
            content: "Reload again: now the engine hangs up",
            trigger: `${CARD}[data-state=talking]`,
            run() {
                window.location.reload();
            },
        },
        {
            content: "Hang-up: the card shows how the call ended",
            trigger: `${CARD}[data-state=ended] .o_ipt_call_card_state:contains(Answered)`,
            timeout: 20000,
        },
        {
            content: "and closes by itself",
            trigger: "body:not(:has(.o_ipt_call_card))",
            timeout: 20000,
        },
    ],
});
