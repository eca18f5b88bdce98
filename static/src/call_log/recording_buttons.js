import { useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { RecordingPlayer } from "@ip_telephony/recording_player/recording_player";

/**
 * The recording in a row of the call log: a play button that opens the
 * player of the call form in place, and a download button for the users
 * whose groups may download. Both use the audited recording route.
 */
export class RecordingButtons extends RecordingPlayer {
    static template = "ip_telephony.RecordingButtons";

    setup() {
        super.setup();
        this.state = useState({ open: false });
    }

    get playTitle() {
        return this.state.open ? _t("Close the player") : _t("Play the recording");
    }

    toggle() {
        this.state.open = !this.state.open;
    }
}

export const recordingButtons = {
    component: RecordingButtons,
    displayName: _t("Recording buttons"),
    supportedTypes: ["boolean", "many2one"],
    fieldDependencies: [{ name: "telephony_may_download", type: "boolean" }],
};

registry.category("fields").add("telephony_recording_buttons", recordingButtons);
