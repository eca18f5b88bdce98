import { patch } from "@web/core/utils/patch";
import { ListRenderer } from "@web/views/list/list_renderer";
import { placeCall, showCallButton } from "@ip_telephony/call_button/call_button";

/*
 * A list shows plain text fields as text, without a field widget (the phone
 * of the contact list is one): the rows render the call icon themselves.
 */
patch(ListRenderer.prototype, {
    showCallButtonInCell(column, record) {
        return column.type === "field" && showCallButton({ record, name: column.name });
    },
    onCallButtonClick(record, name) {
        return placeCall(this.env, { record, name });
    },
});
