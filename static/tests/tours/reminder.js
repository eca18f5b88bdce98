import { registry } from "@web/core/registry";

/** The reminder to keep the window open: once per login, at every login. */
registry.category("web_tour.tours").add("ip_telephony_reminder_login", {
    url: "/odoo",
    steps: () => [
        {
            content: "Just logged in: the reminder shows",
            trigger: ".o_notification.o_ipt_reminder",
        },
        {
            content: "Reload the page",
            trigger: ".o_ipt_line_status[data-loaded='1']",
            run() {
                window.location.reload();
            },
        },
        {
            content: "The line status has loaded again",
            trigger: ".o_ipt_line_status[data-loaded='1']",
            timeout: 20000,
        },
        {
            content: "Same login: no second reminder",
            trigger: ".o_ipt_line_status[data-loaded='1']",
            async run() {
                await new Promise((resolve) => setTimeout(resolve, 1000));
                if (document.querySelector(".o_ipt_reminder")) {
                    throw new Error("The reminder showed twice in one login");
                }
            },
        },
        {
            content: "Log out",
            trigger: ".o_ipt_line_status[data-loaded='1']",
            run() {
                window.location.href = "/web/session/logout?redirect=/web/login";
            },
        },
        {
            content: "Log in again in the same tab",
            trigger: ".oe_login_form input[name=login]",
            run: "edit sales",
        },
        {
            trigger: ".oe_login_form input[name=password]",
            run: "edit salesxxx",
        },
        {
            trigger: ".oe_login_form button[type=submit]",
            run: "click",
        },
        {
            content: "A new login: the reminder shows again",
            trigger: ".o_notification.o_ipt_reminder",
            timeout: 20000,
        },
    ],
});
