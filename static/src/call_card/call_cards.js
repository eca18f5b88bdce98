import { Component, onWillDestroy, useState } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { deserializeDateTime } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { BrowserPhone, isBrowserPhoneVisible } from "@ip_telephony/browser_phone/browser_phone";
import { formatDuration } from "@ip_telephony/call_card/format_duration";

const { DateTime } = luxon;

/** One call: who, which number (as masked by the server), state and timer. */
export class CallCard extends Component {
    static template = "ip_telephony.CallCard";
    static props = { card: Object };

    setup() {
        this.callCard = useService("ip_telephony.call_card");
        this.clock = useState({ now: DateTime.now() });
        this.noteState = useState({ text: this.props.card.note || "", saved: this.props.card.note || "" });
        const interval = browser.setInterval(() => {
            if (this.props.card.state === "talking") {
                this.clock.now = DateTime.now();
            }
        }, 1000);
        onWillDestroy(() => {
            browser.clearInterval(interval);
            this.saveNote();
        });
    }

    get card() {
        return this.props.card;
    }

    get title() {
        return this.card.direction === "inbound" ? _t("Incoming call") : _t("Outgoing call");
    }

    get stateLabel() {
        if (this.card.answered_elsewhere) {
            if (this.card.answered_by) {
                return _t("Answered by %(name)s", { name: this.card.answered_by });
            }
            return this.card.forwarded_to
                ? _t("Forwarded to %(number)s", { number: this.card.forwarded_to })
                : _t("Forwarded");
        }
        switch (this.card.state) {
            case "new":
                return _t("Dialling…");
            case "ringing":
                return this.card.direction === "inbound" ? _t("Ringing") : _t("Calling your phone");
            case "talking":
                return _t("Talking");
            default:
                return this.card.outcome_label || _t("Ended");
        }
    }

    get stateClass() {
        if (this.card.answered_elsewhere) {
            return "text-bg-secondary";
        }
        if (this.card.state === "talking") {
            return "text-bg-success";
        }
        if (this.card.state === "ended") {
            return this.card.outcome === "answered" ? "text-bg-secondary" : "text-bg-danger";
        }
        return "text-bg-warning";
    }

    get timer() {
        if (!this.card.answer) {
            return "";
        }
        const answer = deserializeDateTime(this.card.answer);
        const end =
            this.card.state === "ended" && this.card.end
                ? deserializeDateTime(this.card.end)
                : this.clock.now;
        return formatDuration(end.diff(answer, "seconds").seconds);
    }

    get partnerName() {
        if (this.card.partner_name) {
            return this.card.partner_name;
        }
        return this.card.direction === "inbound" ? _t("Unknown caller") : "";
    }

    get partnerFields() {
        return Object.entries(this.card.partner || {})
            .filter(([, field]) => field.value !== "" && field.value !== false)
            .map(([name, field]) => ({ name, ...field }));
    }

    get openLabel() {
        return this.card.partner_id ? _t("Open contact") : _t("Open record");
    }

    get canOpen() {
        return Boolean(this.card.partner_id || (this.card.res_model && this.card.res_id));
    }

    get canCreateContact() {
        return Boolean(this.card.can_create_contact && !this.card.answered_elsewhere);
    }

    get canHangUp() {
        return Boolean(this.card.can_hang_up);
    }

    get hangUpLabel() {
        return this.card.state === "talking" ? _t("Hang up") : _t("Cancel the call");
    }

    async onHangUp() {
        await this.saveNote();
        await this.callCard.hangup(this.card);
    }

    onNoteFocus() {
        this.callCard.holdOpen(this.card, true);
    }

    async onNoteBlur() {
        await this.saveNote();
        this.callCard.holdOpen(this.card, false);
    }

    async saveNote() {
        const text = this.noteState.text;
        if (text === this.noteState.saved) {
            return;
        }
        this.noteState.saved = text;
        await this.callCard.saveNote(this.card, text);
    }

    onCreateContact() {
        this.callCard.createContact(this.card);
    }

    onOpen() {
        this.callCard.open(this.card);
    }

    onClose() {
        this.callCard.close(this.card.id);
    }
}

/**
 * The stack of call cards, bottom right of every page (F14), under the
 * browser phone when a call rings or talks in this browser (F16).
 */
export class CallCards extends Component {
    static template = "ip_telephony.CallCards";
    static components = { BrowserPhone, CallCard };
    static props = {};

    setup() {
        this.state = useState(useService("ip_telephony.call_card").state);
        this.phoneState = useState(useService("ip_telephony.browser_phone").state);
    }

    get visible() {
        return Boolean(this.state.cards.length || isBrowserPhoneVisible(this.phoneState));
    }
}

registry.category("main_components").add("ip_telephony.CallCards", { Component: CallCards });
