import { registry } from "@web/core/registry";

const CARD = ".o_ipt_call_cards .o_ipt_call_card";

/**
 * F27, F17, i18n: a masked user's card in Russian, the reminder once per
 * session, and a call to a number the user may not see.
 */
registry.category("web_tour.tours").add("ip_telephony_masked_card", {
    url: "/odoo",
    steps: () => [
        {
            content: "An incoming call rings: the card is in Russian",
            trigger: `${CARD}[data-state=ringing] .o_ipt_call_card_title:contains(Входящий звонок)`,
            timeout: 20000,
        },
        {
            content: "The number shows with its first digits hidden",
            trigger: `${CARD} .o_ipt_call_card_number:contains(+****1234567)`,
        },
        {
            content: "so do the phone fields of the contact",
            trigger: `${CARD} .o_ipt_call_card_field_phone:contains(* (***) 123-45-67)`,
        },
        {
            content: "No unmasked number anywhere in the page",
            trigger: `${CARD}:contains(Ivan Petrov)`,
            run() {
                const html = document.documentElement.outerHTML;
                for (const secret of ["79161234567", "8 (916)", "9161234567"]) {
                    if (html.includes(secret)) {
                        throw new Error(`The page shows the unmasked number ${secret}`);
                    }
                }
            },
        },
        {
            content: "The phone is not registered: a reminder to keep the window open",
            trigger: ".o_notification.o_ipt_reminder:contains(Не закрывайте это окно)",
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
            content: "The reminder shows once per browser session",
            trigger: `${CARD}[data-state=ringing]`,
            run() {
                if (document.querySelector(".o_ipt_reminder")) {
                    throw new Error("The reminder showed twice");
                }
            },
        },
        {
            content: "Go to the contacts",
            trigger: `${CARD}[data-state=ringing]`,
            run() {
                window.location.href = "/odoo/contacts?view_type=list";
            },
        },
        {
            content: "Call Ivan Petrov: the server reads the number it hides",
            trigger:
                ".o_list_view .o_data_row:contains(Ivan Petrov) td[name=phone] .o_ipt_call_button",
            run: "click",
        },
        {
            content: "The feedback names no number",
            trigger: ".o_notification.o_ipt_calling:contains(Звоним… Сначала зазвонит ваш телефон.)",
        },
    ],
});
