import { registry } from "@web/core/registry";

const tours = registry.category("web_tour.tours");

/** F16: the browser phone registers at the engine's edge; Odoo sees the registration. */
tours.add("ip_telephony_browser_phone_register", {
    url: "/odoo",
    steps: () => [
        {
            content: "This tab leads and its browser phone registers",
            trigger: ".o_ipt_line_status[data-browser-role=leader][data-browser-phone=registered]",
            timeout: 30000,
        },
        {
            content: "Open the line status",
            trigger: ".o_ipt_line_status",
            run: "click",
        },
        {
            content: "The browser phone's line is registered",
            trigger: ".o_ipt_line_status_browser[data-registration=registered]",
        },
        {
            content: "and the engine told Odoo that the user's phone is registered",
            trigger: ".o_ipt_line_status_phone:not(.text-muted)",
            timeout: 30000,
        },
    ],
});

/** F16: no server at the WebSocket address: a clear state, no crash. */
tours.add("ip_telephony_browser_phone_unreachable", {
    url: "/odoo",
    steps: () => [
        {
            content: "The browser phone fails to reach the edge",
            trigger: ".o_ipt_line_status[data-browser-role=leader][data-browser-phone=failed]",
            timeout: 30000,
        },
        {
            content: "Open the line status",
            trigger: ".o_ipt_line_status",
            run: "click",
        },
        {
            content: "It says why",
            trigger: ".o_ipt_line_status_browser_error:contains(cannot be reached)",
        },
    ],
});

/** F16: a refused microphone is said at once, not at the first call. */
tours.add("ip_telephony_browser_phone_mic_denied", {
    url: "/odoo",
    steps: () => [
        {
            content: "The browser phone leads in this tab",
            trigger: ".o_ipt_line_status[data-browser-role=leader]",
            timeout: 30000,
        },
        {
            content: "The phone widget says the microphone is blocked and how to allow it",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_mic_message:contains(microphone)",
            timeout: 20000,
        },
    ],
});

/** F17: a browser that blocks sound gets a reminder with a button. */
tours.add("ip_telephony_browser_phone_sound_blocked", {
    url: "/odoo",
    steps: () => [
        {
            content: "The ring would be silent: the systray knows",
            trigger: ".o_ipt_line_status[data-browser-role=leader][data-sound-blocked='1']",
            timeout: 30000,
        },
        {
            content: "The reminder asks for one click",
            trigger: ".o_notification.o_ipt_sound_reminder button:contains(Enable sound)",
        },
    ],
});

/**
 * F12 + F16: click-to-call whose user leg rings in the browser; the tour
 * answers, sends a digit, and hangs up after the client answered.
 */
tours.add("ip_telephony_browser_phone_click_to_call", {
    url: "/odoo/contacts?view_type=list",
    steps: () => [
        {
            content: "The browser phone is registered",
            trigger: ".o_ipt_line_status[data-browser-role=leader][data-browser-phone=registered]",
            timeout: 30000,
        },
        {
            content: "Hover the row of Ivan Petrov",
            trigger: ".o_list_view .o_data_row:contains(Ivan Petrov) td[name=phone]",
            run: "hover",
        },
        {
            content: "Call Ivan Petrov",
            trigger:
                ".o_list_view .o_data_row:contains(Ivan Petrov) td[name=phone] .o_ipt_call_button",
            run: "click",
        },
        {
            content: "The browser rings first, with the client as caller",
            trigger: ".o_ipt_browser_phone[data-state=ringing]:contains(Ivan Petrov)",
            timeout: 30000,
        },
        {
            content: "Answer in the browser",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_answer",
            run: "click",
        },
        {
            content: "Talking in the browser",
            trigger: ".o_ipt_browser_phone[data-state=talking]",
            timeout: 20000,
        },
        {
            content: "The call card shows the client answered",
            trigger: ".o_ipt_call_card[data-state=talking]",
            timeout: 30000,
        },
        {
            content: "Open the keypad",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_keypad_toggle",
            run: "click",
        },
        {
            content: "Send a digit",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_key[data-key='5']",
            run: "click",
        },
        {
            content: "The digit is shown",
            trigger: ".o_ipt_browser_phone_dialled:contains(5)",
        },
        {
            content: "Mute",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_mute",
            run: "click",
        },
        {
            content: "Muted",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_muted",
        },
        {
            content: "Put the client on hold",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_hold",
            run: "click",
        },
        {
            content: "On hold",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_state:contains(On hold)",
            timeout: 10000,
        },
        {
            content: "Resume",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_hold.btn-warning",
            run: "click",
        },
        {
            content: "Talking again",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_state:contains(Talking)",
            timeout: 10000,
        },
        {
            content: "Hang up",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_hangup",
            run: "click",
        },
        {
            content: "The call ends on the card",
            trigger: ".o_ipt_call_card[data-state=ended]",
            timeout: 30000,
        },
    ],
});

/** F16: a user without calls in the browser gets no browser phone. */
tours.add("ip_telephony_browser_phone_absent", {
    url: "/odoo",
    steps: () => [
        {
            content: "The line status is loaded",
            trigger: ".o_ipt_line_status[data-loaded='1']",
            timeout: 20000,
        },
        {
            content: "No browser phone: no state, no JsSIP",
            trigger: ".o_ipt_line_status[data-browser-phone='']",
            run() {
                if (window.JsSIP) {
                    throw new Error("JsSIP was loaded for a user without calls in the browser");
                }
            },
        },
        {
            content: "Open the line status: no browser line",
            trigger: ".o_ipt_line_status",
            run: "click",
        },
        {
            content: "Only the desk phone's line",
            trigger: ".o_ipt_line_status_phone",
            run() {
                if (document.querySelector(".o_ipt_line_status_browser")) {
                    throw new Error("a browser line shows for a user without calls in the browser");
                }
            },
        },
    ],
});

/** F16: JsSIP was not built on the server: a notice, the rest of Odoo works. */
tours.add("ip_telephony_browser_phone_not_installed", {
    url: "/odoo",
    steps: () => [
        {
            content: "The user is told the browser phone is not installed",
            trigger: ".o_notification.o_ipt_browser_phone_missing:contains(not installed)",
            timeout: 30000,
        },
        {
            content: "The systray says so too",
            trigger: ".o_ipt_line_status[data-browser-phone=not_installed]",
        },
        {
            content: "Odoo still works: open Contacts",
            trigger: ".o_navbar_apps_menu button",
            run: "click",
        },
        {
            content: "Contacts",
            trigger: ".o_app[data-menu-xmlid='contacts.menu_contacts']",
            run: "click",
        },
        {
            content: "The contacts are listed",
            trigger: ".o_kanban_view, .o_list_view",
        },
    ],
});

/** F13 + F16: an incoming call rings in the browser and is answered there. */
tours.add("ip_telephony_browser_phone_incoming", {
    url: "/odoo",
    steps: () => [
        {
            content: "The browser phone is registered",
            trigger: ".o_ipt_line_status[data-browser-role=leader][data-browser-phone=registered]",
            timeout: 30000,
        },
        {
            content: "The incoming call rings in the browser, with the caller's number",
            trigger: ".o_ipt_browser_phone[data-state=ringing]:contains(79161234567)",
            timeout: 60000,
        },
        {
            content: "and its call card pops up",
            trigger: ".o_ipt_call_card[data-state=ringing]",
            timeout: 30000,
        },
        {
            content: "Answer in the browser",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_answer",
            run: "click",
        },
        {
            content: "Talking in the browser",
            trigger: ".o_ipt_browser_phone[data-state=talking]",
            timeout: 20000,
        },
        {
            content: "The call card says talking",
            trigger: ".o_ipt_call_card[data-state=talking]",
            timeout: 30000,
        },
        {
            content: "Let the caller hear the browser a moment, then hang up",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_state:contains(0:02)",
            timeout: 20000,
        },
        {
            content: "Hang up",
            trigger: ".o_ipt_browser_phone .o_ipt_browser_phone_hangup",
            run: "click",
        },
        {
            content: "The call ends on the card",
            trigger: ".o_ipt_call_card[data-state=ended]",
            timeout: 30000,
        },
    ],
});
