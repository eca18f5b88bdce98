import { reactive } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { telephonySession } from "@ip_telephony/session/telephony_session";

const REMINDER_KEY = "ip_telephony.reminder_shown";

/**
 * The state of the lines (F4): SIP trunks, the engine and the user's own
 * phone. Loaded once, then kept up to date by "ip_telephony.line/updated"
 * bus notifications (no polling).
 */
export const lineStatusService = {
    dependencies: ["bus_service", "notification", "orm"],

    start(env, { bus_service: busService, notification, orm }) {
        const info = telephonySession();
        const state = reactive({
            loaded: false,
            trunks: [],
            engine: "offline",
            phone: info.phone_state || false,
        });
        if (!info.is_user && !info.is_manager) {
            return state;
        }

        function applyTrunks(trunks) {
            for (const trunk of trunks) {
                const known = state.trunks.find((t) => t.id === trunk.id);
                if (known) {
                    Object.assign(known, trunk);
                } else {
                    state.trunks.push(trunk);
                }
            }
        }

        let closeReminder = null;
        const mark = String(info.login_mark || 0);

        /** F17: without a registered phone, only this window can take calls. */
        function remind() {
            if (
                !info.is_user ||
                !info.show_reminder ||
                state.phone === "registered" ||
                browser.localStorage.getItem(REMINDER_KEY) === mark
            ) {
                return;
            }
            // Once per login, whatever the number of tabs.
            browser.localStorage.setItem(REMINDER_KEY, mark);
            closeReminder = notification.add(
                _t(
                    "Your desk phone or softphone is not registered: incoming calls reach you only while this window stays open. Keep it open, or register your phone."
                ),
                {
                    title: _t("Keep this window open"),
                    type: "warning",
                    sticky: true,
                    className: "o_ipt_reminder",
                }
            );
        }

        // What the bus said before the first load answered is newer than it.
        const fromBus = { trunks: new Set(), engine: false, phone: false };
        busService.subscribe("ip_telephony.line/updated", (payload) => {
            if (payload.trunks) {
                // Only a running engine reports trunk states.
                state.engine = "online";
                fromBus.engine = true;
                applyTrunks(payload.trunks);
                payload.trunks.forEach((trunk) => fromBus.trunks.add(trunk.id));
            }
            if (payload.phone) {
                state.phone = payload.phone;
                fromBus.phone = true;
                if (payload.phone === "registered" && closeReminder) {
                    closeReminder();
                    closeReminder = null;
                }
            }
        });
        busService.start();

        orm.silent
            .call("telephony.sip.account", "telephony_line_status", [])
            .then((status) => {
                applyTrunks(status.trunks.filter((trunk) => !fromBus.trunks.has(trunk.id)));
                if (!fromBus.engine) {
                    state.engine = status.engine;
                }
                if (!fromBus.phone) {
                    state.phone = status.phone;
                }
                state.loaded = true;
                remind();
            })
            .catch(() => {});

        return state;
    },
};

registry.category("services").add("ip_telephony.line_status", lineStatusService);
