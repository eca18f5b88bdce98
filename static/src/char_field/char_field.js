import { patch } from "@web/core/utils/patch";
import { Field } from "@web/views/fields/field";
import { CharField } from "@web/views/fields/char/char_field";
import { placeCall, showCallButton } from "@ip_telephony/call_button/call_button";
import { isCallableField } from "@ip_telephony/session/telephony_session";

/*
 * A phone field of a callable model shown without widget="phone" (a form of
 * a model added to the callable models, a kanban card) gets the call icon
 * too, so any callable model has it in all its views without code.
 */
patch(CharField.prototype, {
    get showCallButton() {
        return !this.props.isPassword && showCallButton(this.props);
    },
    onCallButtonClick(record, name) {
        return placeCall(this.env, { record, name });
    },
});

/*
 * Kanban cards show a field without widget as bare text, with no field
 * component to hold the icon: there, a phone field of a callable model gets
 * the plain char widget, which looks the same and has the icon.
 */
patch(Field, {
    parseFieldNode(node, models, modelName, viewType) {
        const name = node.getAttribute("name");
        if (
            viewType === "kanban" &&
            !node.hasAttribute("widget") &&
            models[modelName]?.fields[name]?.type === "char" &&
            isCallableField(modelName, name)
        ) {
            node.setAttribute("widget", "char");
        }
        return super.parseFieldNode(...arguments);
    },
});
