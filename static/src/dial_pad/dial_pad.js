import { Component, onWillUnmount, useState } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { useDropdownState } from "@web/core/dropdown/dropdown_hooks";
import { deserializeDateTime, formatDateTime } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { telephonySession } from "@ip_telephony/session/telephony_session";

/** Milliseconds of quiet typing before the number rules are asked. */
export const CHECK_DELAY = 150;
const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

/**
 * The dial pad in the systray: any number typed or pasted is called as a
 * click-to-call (the user's phone rings first), checked by the number rules
 * while it is typed; the last calls with a call-back button; while a call
 * talks in this browser, the keys send DTMF.
 */
export class DialPad extends Component {
    static template = "ip_telephony.DialPad";
    static components = { Dropdown };
    static props = {};

    setup() {
        this.orm = useService("orm");
        this.callCard = useService("ip_telephony.call_card");
        this.browserPhone = useService("ip_telephony.browser_phone");
        this.phoneState = useState(this.browserPhone.state);
        this.dropdown = useDropdownState();
        this.keys = KEYS;
        this.state = useState({
            number: "",
            verdict: null, // {ok, message} for state.number once checked
            checked: "",
            recent: [],
            dtmf: "",
        });
        this.checkTimer = null;
        this.checkSeq = 0;
        onWillUnmount(() => browser.clearTimeout(this.checkTimer));
    }

    get talkingHere() {
        return this.phoneState.call?.state === "talking";
    }

    get canCall() {
        return Boolean(
            this.state.number.trim() &&
                this.state.checked === this.state.number &&
                this.state.verdict?.ok
        );
    }

    get callTitle() {
        return _t("Call this number: your phone rings first");
    }

    async onOpened() {
        this.state.recent = await this.orm.silent.call("telephony.call", "telephony_recent_calls", [
            10,
        ]);
    }

    onInput(ev) {
        this.state.number = ev.target.value;
        this.scheduleCheck();
    }

    onKey(key) {
        if (this.talkingHere) {
            this.browserPhone.sendDtmf(key);
            this.state.dtmf += key;
            return;
        }
        this.state.number += key;
        this.scheduleCheck();
    }

    onBackspace() {
        this.state.number = this.state.number.slice(0, -1);
        this.scheduleCheck();
    }

    onKeydown(ev) {
        if (ev.key === "Enter" && this.canCall) {
            ev.preventDefault();
            this.onCall();
        }
    }

    scheduleCheck() {
        browser.clearTimeout(this.checkTimer);
        this.checkTimer = browser.setTimeout(() => this.check(), CHECK_DELAY);
    }

    async check() {
        const number = this.state.number;
        const seq = ++this.checkSeq;
        const verdict = number.trim()
            ? await this.orm.silent.call("telephony.call", "telephony_check_number", [number])
            : { ok: false, message: "" };
        // A later keystroke has its own check: this answer is stale.
        if (seq === this.checkSeq) {
            this.state.verdict = verdict;
            this.state.checked = number;
        }
    }

    async onCall() {
        if (!this.canCall) {
            return;
        }
        const number = this.state.number;
        const placed = await this.callCard.dial({ number });
        if (placed) {
            this.state.number = "";
            this.state.verdict = null;
            this.dropdown.close();
        }
    }

    async onCallBack(call) {
        const placed = await this.callCard.callBack(call.id);
        if (placed) {
            this.dropdown.close();
        }
    }

    callLabel(call) {
        return call.partner_name || call.number;
    }

    callTime(call) {
        return call.start ? formatDateTime(deserializeDateTime(call.start)) : "";
    }

    directionIcon(call) {
        if (call.direction === "outbound") {
            return "fa-arrow-up text-muted";
        }
        return ["answered", "forwarded", ""].includes(call.outcome)
            ? "fa-arrow-down text-muted"
            : "fa-arrow-down text-danger";
    }
}

registry.category("systray").add(
    "ip_telephony.DialPad",
    {
        Component: DialPad,
        isDisplayed: () => Boolean(telephonySession().is_user),
    },
    { sequence: 91 }
);
