import { Component, useState } from "@odoo/owl";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { telephonySession } from "@ip_telephony/session/telephony_session";

const TRUNK_STATES = {
    registered: _t("Registered"),
    failed: _t("Not registered"),
    pending: _t("Waiting for an answer"),
};

const BROWSER_PHONE_STATES = {
    off: _t("Off"),
    connecting: _t("Connecting…"),
    registered: _t("Registered"),
    unregistered: _t("Not registered"),
    failed: _t("Not registered"),
    not_installed: _t("Not installed"),
};

/**
 * Worst state first: red if the engine is down or a trunk failed, grey
 * while an answer is awaited (or no trunk exists), green when all are
 * registered.
 */
export function lineColor(status) {
    if (status.engine !== "online" || status.trunks.some((t) => t.state === "failed")) {
        return "failed";
    }
    if (!status.trunks.length || status.trunks.some((t) => t.state !== "registered")) {
        return "pending";
    }
    return "registered";
}

/** Systray dot with the state of the SIP trunks and of the user's phone (F4). */
export class LineStatus extends Component {
    static template = "ip_telephony.LineStatus";
    static components = { Dropdown };
    static props = {};

    setup() {
        this.status = useState(useService("ip_telephony.line_status"));
        this.browserPhone = useService("ip_telephony.browser_phone");
        this.phoneState = useState(this.browserPhone.state);
    }

    get browserPhoneLabel() {
        const label =
            BROWSER_PHONE_STATES[this.phoneState.registration] || this.phoneState.registration;
        return _t("Calls in this browser: %(state)s", { state: label });
    }

    get browserPhoneRoleLabel() {
        return this.phoneState.role === "follower"
            ? _t("Another tab of this browser holds the line.")
            : "";
    }

    onEnableSound() {
        this.browserPhone.unlockAudio();
    }

    get color() {
        return lineColor(this.status);
    }

    get dotClass() {
        return {
            registered: "text-success",
            failed: "text-danger",
            pending: "text-muted",
        }[this.color];
    }

    get trunks() {
        return this.status.trunks.map((trunk) => ({
            ...trunk,
            label: TRUNK_STATES[trunk.state] || trunk.state,
        }));
    }

    get engineLabel() {
        return this.status.engine === "online"
            ? _t("Telephony engine: connected")
            : _t("Telephony engine: not connected");
    }

    get phoneLabel() {
        return this.status.phone === "registered"
            ? _t("Your phone: registered")
            : _t("Your phone: not registered");
    }

    get showPhone() {
        return Boolean(telephonySession().is_user);
    }

    /** One line per problem, or the all-clear, for the tooltip. */
    get summary() {
        const lines = [];
        if (this.status.engine !== "online") {
            lines.push(this.engineLabel);
        }
        for (const trunk of this.trunks) {
            lines.push(
                trunk.reason
                    ? `${trunk.name}: ${trunk.label} (${trunk.reason})`
                    : `${trunk.name}: ${trunk.label}`
            );
        }
        if (!this.trunks.length) {
            lines.push(_t("No SIP account is configured."));
        }
        if (this.showPhone) {
            lines.push(this.phoneLabel);
        }
        if (this.phoneState.enabled) {
            lines.push(this.browserPhoneLabel);
            if (this.phoneState.error) {
                lines.push(this.phoneState.error);
            }
        }
        return lines.join("\n");
    }
}

registry.category("systray").add(
    "ip_telephony.LineStatus",
    {
        Component: LineStatus,
        isDisplayed: () => {
            const info = telephonySession();
            return Boolean(info.is_user || info.is_manager);
        },
    },
    { sequence: 90 }
);
