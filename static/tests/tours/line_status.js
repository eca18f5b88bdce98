import { registry } from "@web/core/registry";

/** F4: the systray shows the trunks' registration, live. */
registry.category("web_tour.tours").add("ip_telephony_line_status", {
    url: "/odoo",
    steps: () => [
        {
            content: "All trunks registered: green",
            trigger: ".o_ipt_line_status[data-loaded='1'][data-state=registered]",
            timeout: 20000,
        },
        {
            content: "The reminder is switched off",
            trigger: ".o_ipt_line_status[data-loaded='1']",
            run() {
                if (document.querySelector(".o_ipt_reminder")) {
                    throw new Error("The reminder showed although it is switched off");
                }
            },
        },
        {
            content: "Reload the page",
            trigger: ".o_ipt_line_status",
            run() {
                window.location.reload();
            },
        },
        {
            content: "The trunk fails: red, with the reason on hover",
            trigger: ".o_ipt_line_status[data-state=failed][title*=Forbidden]",
            timeout: 20000,
        },
        {
            content: "Open the details",
            trigger: ".o_ipt_line_status",
            run: "click",
        },
        {
            content: "The failed trunk and its reason",
            trigger:
                ".o_ipt_line_status_trunk[data-state=failed] .o_ipt_line_status_reason:contains(Forbidden)",
        },
        {
            content: "and the user's phone",
            trigger: ".o_ipt_line_status_phone",
        },
    ],
});
