import { isCallableField, telephonySession } from "@ip_telephony/session/telephony_session";

/*
 * The call icon next to a phone number (F11). It is a bit of markup and two
 * methods patched into the field widgets and the list rows rather than a
 * component of its own: a list shows up to 80 of them at once, and renders
 * plain text fields without any component.
 */

/**
 * Whether a field widget shows the call icon: phone fields of callable
 * models, with a number, or fully masked (F27: the number reaches the
 * browser empty, and the icon alone still calls it).
 */
export function showCallButton({ record, name }) {
    if (!isCallableField(record.resModel, name)) {
        return false;
    }
    return Boolean(
        record.data[name] || (telephonySession().mask?.mode === "full" && record.resId)
    );
}

/** The record to save before calling: an x2many line belongs to its parent. */
function topRecord(record) {
    let top = record;
    while (top._parentRecord) {
        top = top._parentRecord;
    }
    return top;
}

const pending = new WeakSet();

/** Save the record if it changed, then place the call (one click, one call). */
export async function placeCall(env, { record, name }) {
    if (pending.has(record)) {
        return;
    }
    pending.add(record);
    try {
        const top = topRecord(record);
        if (top.isNew || (await top.isDirty())) {
            if (!(await top.save())) {
                return;
            }
        }
        await env.services["ip_telephony.call_card"].dial({
            number: record.data[name],
            resModel: record.resModel,
            resId: record.resId,
            fieldName: name,
        });
    } finally {
        pending.delete(record);
    }
}

/** What the field widgets get: the flag for their template and the click. */
export function callButtonPatch() {
    return {
        get showCallButton() {
            return showCallButton(this.props);
        },
        onCallButtonClick(record, name) {
            return placeCall(this.env, { record, name });
        },
    };
}
