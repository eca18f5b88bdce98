import { reactive } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { _t } from "@web/core/l10n/translation";
import { RPCError } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";
import { isMasked, telephonySession } from "@ip_telephony/session/telephony_session";

/** Seconds an ended call's card stays before it closes by itself. */
export const ENDED_CARD_DELAY = 6;
/** Seconds a card stays once a colleague took the call. */
export const ANSWERED_ELSEWHERE_DELAY = 3;
const MAX_CARDS = 5;
const REFUSALS = new Set([
    "odoo.exceptions.AccessError",
    "odoo.exceptions.MissingError",
    "odoo.exceptions.UserError",
    "odoo.exceptions.ValidationError",
]);

/**
 * The call cards of the current user (F14), fed by the bus only: the server
 * pushes "ip_telephony.call/updated" with the whole card (number already
 * masked for this user) at every change of the call.
 */
export const callCardService = {
    dependencies: ["action", "bus_service", "notification", "orm"],

    start(env, { action, bus_service: busService, notification, orm }) {
        const state = reactive({ cards: [] });
        const closeTimers = new Map();
        // Closed cards stay closed: a late update (a recording, a note) of
        // their call does not bring them back.
        const closedIds = new Set();
        // Cards whose notes are being typed: they do not close by themselves.
        const heldIds = new Set();

        function scheduleClose(card, delay = ENDED_CARD_DELAY) {
            browser.clearTimeout(closeTimers.get(card.id));
            closeTimers.set(
                card.id,
                browser.setTimeout(() => close(card.id), delay * 1000)
            );
        }

        /** Add or refresh a card; the server's card is always the latest word. */
        function update(card) {
            if (!card || !card.id || closedIds.has(card.id)) {
                return;
            }
            const index = state.cards.findIndex((c) => c.id === card.id);
            // A colleague took the incoming call, or it was forwarded: say so
            // on the card that rang here, then close it; never open one for it.
            if (card.answered_elsewhere) {
                if (index >= 0) {
                    Object.assign(state.cards[index], card);
                    scheduleClose(card, ANSWERED_ELSEWHERE_DELAY);
                }
                return;
            }
            if (index >= 0) {
                Object.assign(state.cards[index], card);
            } else {
                state.cards.push(card);
                if (state.cards.length > MAX_CARDS) {
                    close(state.cards[0].id);
                }
            }
            if (card.state === "ended" && !heldIds.has(card.id)) {
                scheduleClose(card);
            }
        }

        function close(callId) {
            browser.clearTimeout(closeTimers.get(callId));
            closeTimers.delete(callId);
            closedIds.add(callId);
            const index = state.cards.findIndex((c) => c.id === callId);
            if (index >= 0) {
                state.cards.splice(index, 1);
            }
        }

        /** Open the contact of the call, else the record it was placed from. */
        async function open(card) {
            const [resModel, resId] = card.partner_id
                ? ["res.partner", card.partner_id]
                : [card.res_model, card.res_id];
            if (!resModel || !resId) {
                return;
            }
            await action.doAction({
                type: "ir.actions.act_window",
                res_model: resModel,
                res_id: resId,
                views: [[false, "form"]],
                target: "current",
            });
        }

        /** End the call, or cancel it while it rings: the engine hangs up. */
        async function hangup(card) {
            await orm.call("telephony.call", "action_hangup", [[card.id]]);
        }

        /** Notes typed on the card are the call's notes. */
        async function saveNote(card, note) {
            await orm.write("telephony.call", [card.id], { note });
            card.note = note;
        }

        /** A card whose notes are being typed stays open after its call ended. */
        function holdOpen(card, hold) {
            if (hold) {
                browser.clearTimeout(closeTimers.get(card.id));
                closeTimers.delete(card.id);
                heldIds.add(card.id);
            } else {
                heldIds.delete(card.id);
                if (card.state === "ended") {
                    scheduleClose(card);
                }
            }
        }

        /** An unknown caller becomes a contact (B3); the call is linked to it. */
        async function createContact(card) {
            const contactAction = await orm.call("telephony.call", "action_create_contact", [
                [card.id],
            ]);
            await action.doAction(contactAction);
        }

        /**
         * Click-to-call (F11, F12). A user whose numbers are masked (F27) has
         * only the masked value: the server then reads the number itself.
         */
        async function dial({ number, resModel, resId, fieldName }) {
            const masked = isMasked() && resModel && resId && fieldName;
            if (!masked && !number) {
                return false;
            }
            const shown = masked ? "" : number;
            return placeCall(shown, () =>
                masked
                    ? orm.call("telephony.call", "dial_field", [resModel, resId, fieldName])
                    : orm.call("telephony.call", "dial", [number, resModel || false, resId || false])
            );
        }

        /** Call the other party of one of the user's calls again (dial pad). */
        async function callBack(callId) {
            return placeCall("", () => orm.call("telephony.call", "action_call_back", [[callId]]));
        }

        /** Say that the phone rings first; a refusal speaks to the user. */
        async function placeCall(shown, request) {
            const closeCalling = notification.add(
                shown
                    ? _t("Calling %(number)s… Your phone rings first.", { number: shown })
                    : _t("Calling… Your phone rings first."),
                { type: "info", className: "o_ipt_calling" }
            );
            try {
                return await request();
            } catch (error) {
                closeCalling();
                // A refusal (rights, number rules, configuration) speaks to the
                // user; anything else is a bug and goes to the error dialog.
                if (!(error instanceof RPCError) || !REFUSALS.has(error.exceptionName)) {
                    throw error;
                }
                notification.add(error.data.message, {
                    title: _t("The call was not placed"),
                    type: "danger",
                    className: "o_ipt_call_refused",
                });
                return false;
            }
        }

        const info = telephonySession();
        if (info.is_user) {
            busService.subscribe("ip_telephony.call/updated", update);
            busService.start();
            // Calls in progress survive a page reload.
            orm.silent
                .call("telephony.call", "telephony_active_cards", [])
                .then((cards) => {
                    for (const card of cards) {
                        if (!state.cards.some((c) => c.id === card.id)) {
                            update(card);
                        }
                    }
                })
                .catch(() => {});
        }

        return {
            state,
            callBack,
            close,
            createContact,
            dial,
            hangup,
            holdOpen,
            open,
            saveNote,
            update,
        };
    },
};

registry.category("services").add("ip_telephony.call_card", callCardService);
