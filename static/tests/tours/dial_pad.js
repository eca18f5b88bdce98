import { registry } from "@web/core/registry";

const PAD = ".o_ipt_dial_pad";

/** The dial pad: any number, checked as it is typed, called; recent calls called back. */
registry.category("web_tour.tours").add("ip_telephony_dial_pad", {
    url: "/odoo",
    steps: () => [
        {
            content: "Open the dial pad",
            trigger: ".o_ipt_dial_pad_toggle",
            run: "click",
        },
        {
            content: "The last call is listed with its contact",
            trigger: `${PAD} .o_ipt_dial_pad_recent_call:contains(Ivan Petrov)`,
        },
        {
            content: "Type a number the rules refuse",
            trigger: `${PAD} input.o_ipt_dial_pad_number`,
            run: "edit +44 20 7946 0000",
        },
        {
            content: "The pad says why, and does not call",
            trigger: `${PAD} .o_ipt_dial_pad_verdict:contains(Calls to +44 are not allowed.)`,
            run() {
                if (!document.querySelector(`${PAD} .o_ipt_dial_pad_call`).disabled) {
                    throw new Error("A refused number can be called");
                }
            },
        },
        {
            content: "Type a number that is on no record",
            trigger: `${PAD} input.o_ipt_dial_pad_number`,
            run: "edit 8 916 555-83-2",
        },
        {
            content: "Finish it with the keys",
            trigger: `${PAD} .o_ipt_dial_pad_key[data-key='9']`,
            run: "click",
        },
        {
            content: "The number is accepted",
            trigger: `${PAD} .o_ipt_dial_pad_verdict[data-ok='1']`,
        },
        {
            content: "Call it",
            trigger: `${PAD} .o_ipt_dial_pad_call:enabled`,
            run: "click",
        },
        {
            content: "The user's phone rings first",
            trigger: ".o_notification.o_ipt_calling",
        },
        {
            content: "Open the dial pad again",
            trigger: ".o_ipt_dial_pad_toggle",
            run: "click",
        },
        {
            content: "Call Ivan Petrov back",
            trigger: `${PAD} .o_ipt_dial_pad_recent_call:contains(Ivan Petrov) .o_ipt_dial_pad_call_back`,
            run: "click",
        },
        {
            content: "The call is placed",
            trigger: ".o_notification.o_ipt_calling:contains(Your phone rings first)",
        },
        {
            content: "The dial pad closed",
            trigger: "body:not(:has(.o_ipt_dial_pad))",
        },
    ],
});
