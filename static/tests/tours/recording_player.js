import { registry } from "@web/core/registry";

const SECRETS = ["79165558329", "916 555", "9165558329"];

function assertNoNumber() {
    const html = document.documentElement.outerHTML;
    for (const secret of SECRETS) {
        if (html.includes(secret)) {
            throw new Error(`The page shows the unmasked number ${secret}`);
        }
    }
}

/**
 * F25, F27: a telephony user whose numbers are masked opens the call log and
 * a call: masked numbers only, and a player (with a download link) that
 * streams the recording from the audited route.
 */
registry.category("web_tour.tours").add("ip_telephony_recording_player", {
    steps: () => [
        {
            content: "The call log shows the number with its first digits hidden",
            trigger: ".o_list_view .o_data_row td[name=number]:contains(+* *** 555-83-29)",
            run() {
                assertNoNumber();
            },
        },
        {
            content: "Open the call",
            trigger: ".o_list_view .o_data_row td[name=number]",
            run: "click",
        },
        {
            content: "The form has a player on the recording route",
            trigger: ".o_form_view .o_telephony_recording audio[src^='/telephony/recording/']",
        },
        {
            content: "and a download link; no number in clear anywhere",
            trigger:
                ".o_form_view .o_telephony_recording a.o_telephony_recording_download[href$='?download=1']",
            run() {
                assertNoNumber();
            },
        },
    ],
});
