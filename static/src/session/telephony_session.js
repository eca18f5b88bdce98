import { session } from "@web/session";

/**
 * What the server told the web client about the user's telephony
 * (`ir.http.session_info()`, key `ip_telephony`). Absent for portal users.
 */
export function telephonySession() {
    return session.ip_telephony || {};
}

/** Whether the phone fields of this model show a call button. */
export function isCallableField(resModel, fieldName) {
    const info = telephonySession();
    return Boolean(info.is_user && info.phone_fields?.[resModel]?.includes(fieldName));
}

/** Whether the server hides some or all digits of numbers from this user (F27). */
export function isMasked() {
    const mode = telephonySession().mask?.mode;
    return Boolean(mode && mode !== "none");
}
