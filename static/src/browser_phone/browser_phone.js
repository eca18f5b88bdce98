import { Component, onWillDestroy, useState } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { _t } from "@web/core/l10n/translation";
import { useService } from "@web/core/utils/hooks";
import { formatDuration } from "@ip_telephony/call_card/format_duration";
import { isMasked } from "@ip_telephony/session/telephony_session";

/** Whether the browser phone has something to show: a call or a problem. */
export function isBrowserPhoneVisible(state) {
    return Boolean(state.call || state.micError);
}

const KEYPAD = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

/**
 * The face of the browser phone (F16): the call that rings or talks in this
 * browser, with its buttons, on top of the call cards. Every tab of the user
 * shows it; the buttons of a following tab act through the leading one.
 */
export class BrowserPhone extends Component {
    static template = "ip_telephony.BrowserPhone";
    static props = {};

    setup() {
        this.phone = useService("ip_telephony.browser_phone");
        this.state = useState(this.phone.state);
        this.ui = useState({ keypad: false, dialled: "", now: Date.now() });
        this.keypad = KEYPAD;
        const interval = browser.setInterval(() => {
            if (this.state.call?.state === "talking") {
                this.ui.now = Date.now();
            }
        }, 1000);
        onWillDestroy(() => browser.clearInterval(interval));
    }

    get call() {
        return this.state.call;
    }

    get visible() {
        return isBrowserPhoneVisible(this.state);
    }

    get stateLabel() {
        switch (this.call?.state) {
            case "ringing":
                return _t("Ringing in the browser");
            case "talking":
                if (this.call.held) {
                    return _t("On hold");
                }
                return this.call.answeredAt
                    ? _t("Talking %(time)s", {
                          time: formatDuration((this.ui.now - this.call.answeredAt) / 1000),
                      })
                    : _t("Talking");
            case "ended":
                return _t("Call ended");
            default:
                return "";
        }
    }

    /**
     * Who is on the line, as SIP says it. A user whose numbers are masked
     * (F27) reads it on the call card only, where the server masked it.
     */
    get caller() {
        if (isMasked()) {
            return _t("Call in the browser");
        }
        return this.call?.remoteName || this.call?.remote || _t("Unknown caller");
    }

    get number() {
        return !isMasked() && this.call?.remoteName ? this.call.remote : "";
    }

    onKey(key) {
        this.ui.dialled = (this.ui.dialled + key).slice(-20);
        this.phone.sendDtmf(key);
    }

    toggleKeypad() {
        this.ui.keypad = !this.ui.keypad;
    }
}
