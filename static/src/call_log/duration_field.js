import { Component } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";
import { formatDuration } from "@ip_telephony/call_card/format_duration";

/** A number of seconds as "m:ss" (or "h:mm:ss"): talk time in the call log. */
export function formatDurationValue(value) {
    return value || value === 0 ? formatDuration(value) : "";
}

export class DurationField extends Component {
    static template = "ip_telephony.DurationField";
    static props = { ...standardFieldProps };

    get formatted() {
        return formatDurationValue(this.props.record.data[this.props.name] || 0);
    }
}

export const durationField = {
    component: DurationField,
    displayName: _t("Duration (m:ss)"),
    supportedTypes: ["integer", "float"],
};

registry.category("fields").add("telephony_duration", durationField);
// Group totals of the list and the pivot's cells use the formatter of the widget.
registry.category("formatters").add("telephony_duration", formatDurationValue);
