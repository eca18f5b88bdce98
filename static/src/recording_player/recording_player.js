import { Component } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

/**
 * The recording of a call (F25): an audio player that streams it from the
 * audited route (seeking uses HTTP ranges), and a download link for the
 * users whose groups may download.
 */
export class RecordingPlayer extends Component {
    static template = "ip_telephony.RecordingPlayer";
    static props = { ...standardFieldProps };

    get url() {
        return `/telephony/recording/${this.props.record.resId}`;
    }

    get downloadUrl() {
        return `${this.url}?download=1`;
    }

    get hasRecording() {
        return Boolean(this.props.record.resId && this.props.record.data[this.props.name]);
    }

    get mayDownload() {
        return Boolean(this.props.record.data.telephony_may_download);
    }

    get downloadTitle() {
        return _t("Download the recording");
    }
}

export const recordingPlayer = {
    component: RecordingPlayer,
    displayName: _t("Recording player"),
    supportedTypes: ["many2one"],
    fieldDependencies: [{ name: "telephony_may_download", type: "boolean" }],
};

registry.category("fields").add("telephony_recording_player", recordingPlayer);
