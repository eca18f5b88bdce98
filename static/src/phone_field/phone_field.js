import { patch } from "@web/core/utils/patch";
import { PhoneField } from "@web/views/fields/phone/phone_field";
import { callButtonPatch } from "@ip_telephony/call_button/call_button";

/** The call icon on the phone fields of callable models (F11). */
patch(PhoneField.prototype, callButtonPatch());
