import { registry } from "@web/core/registry";

const CARD = ".o_ipt_call_cards .o_ipt_call_card";

/** The card of a call in progress: notes typed on it, then hang up from Odoo. */
registry.category("web_tour.tours").add("ip_telephony_call_card_actions", {
    url: "/odoo",
    steps: () => [
        {
            content: "The card of the call in progress has a hang-up button",
            trigger: `${CARD}[data-state=talking] .o_ipt_call_card_hangup:contains(Hang up)`,
            timeout: 20000,
        },
        {
            content: "Type a note on the card",
            trigger: `${CARD}[data-state=talking] textarea.o_ipt_call_card_note`,
            run: "edit Wants a quote for 20 licences",
        },
        {
            content: "Hang up",
            trigger: `${CARD}[data-state=talking] .o_ipt_call_card_hangup`,
            run: "click",
        },
        {
            content: "The engine ended the call: the card says so, without the button",
            trigger: `${CARD}[data-state=ended]:not(:has(.o_ipt_call_card_hangup)) .o_ipt_call_card_state:contains(Answered)`,
            timeout: 30000,
        },
        {
            content: "and it still shows the note",
            trigger: `${CARD}[data-state=ended] textarea.o_ipt_call_card_note:value(Wants a quote for 20 licences)`,
        },
    ],
});
