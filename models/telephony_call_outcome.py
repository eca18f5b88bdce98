"""How a call ended, in the words of the call log.

The engine reports a coarse outcome with the SIP status code of the leg that
failed (docs/engine-protocol.md, ``call.ended``); the log tells a declined
call from a busy line or an unanswered one by that code, and shows the
engine's reason (English, fixed phrases) or the SIP reason in the user's
language.
"""

from odoo.tools.translate import LazyTranslate

_lt = LazyTranslate(__name__)

OUTCOMES = [
    ("answered", "Answered"),
    ("no_answer", "No answer"),
    ("busy", "Busy"),
    ("declined", "Declined"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
    ("forwarded", "Forwarded"),
]

# Outcomes of calls that did not take place.
UNANSWERED = ("no_answer", "busy", "declined", "failed", "cancelled")

BUSY_CODES = (486, 600)
DECLINED_CODES = (603,)

SIP_REASONS = {
    400: _lt("The request was malformed"),
    401: _lt("Authentication required"),
    403: _lt("Forbidden by the provider"),
    404: _lt("The number does not exist"),
    407: _lt("Authentication required"),
    408: _lt("No answer in time"),
    410: _lt("The number is no longer in service"),
    480: _lt("Temporarily unavailable"),
    484: _lt("The number is incomplete"),
    486: _lt("Busy"),
    487: _lt("Call cancelled"),
    488: _lt("The call's media was refused"),
    500: _lt("Provider error"),
    502: _lt("Bad gateway"),
    503: _lt("Service unavailable"),
    504: _lt("The provider did not answer in time"),
    600: _lt("Busy everywhere"),
    603: _lt("Declined"),
    604: _lt("The number does not exist anywhere"),
}

ENGINE_REASONS = {
    "user hung up": _lt("The user hung up"),
    "the user hung up": _lt("The user hung up"),
    "client hung up": _lt("The other party hung up"),
    "the caller hung up": _lt("The caller hung up"),
    "the forward number hung up": _lt("The forward number hung up"),
    "the user did not answer": _lt("The user's phone was not answered"),
    "the user declined": _lt("The call was declined on the user's phone"),
    "hangup requested": _lt("Ended from Odoo"),
    "nobody answered": _lt("Nobody answered"),
    "nobody is available": _lt("Nobody was available to take the call"),
    "no phone could be reached": _lt("No phone could be reached"),
    "all lines are busy": _lt("All lines were busy"),
    "the forward number cannot be dialled": _lt("The forward number cannot be dialled"),
    "cannot reach the user's phone": _lt("The user's phone cannot be reached"),
    "cannot dial the client": _lt("The number cannot be dialled"),
    "no SIP account": _lt("No SIP account is configured"),
    "unknown telephony login": _lt("The user's phone is not known to the engine"),
    "engine at capacity": _lt("The telephony engine is at capacity"),
    "media worker full": _lt("The telephony engine is at capacity"),
    "media worker stopped": _lt("The telephony engine stopped"),
    "engine stopped": _lt("The telephony engine stopped"),
    "user leg failed": _lt("The call to the user's phone failed"),
    "client leg failed": _lt("The call to the number failed"),
}


def log_outcome(direction, outcome, code):
    """The outcome the call log shows for the engine's ``outcome`` and ``code``.

    An outgoing call refused with 603, or with 486/600 by the user's own phone
    (which the engine reports as ``no_answer``), was declined; 486/600 from the
    other side is a busy line. Incoming calls keep the engine's outcome: a
    missed call stays missed, whatever the code.
    """
    if direction != "outbound" or not code or outcome not in ("no_answer", "busy", "failed"):
        return outcome
    if code in DECLINED_CODES:
        return "declined"
    if code in BUSY_CODES:
        return "declined" if outcome == "no_answer" else "busy"
    return outcome


def reason_text(env, reason, code):
    """The reason a call ended, in the current user's language."""
    reason = (reason or "").strip()
    known = ENGINE_REASONS.get(reason.lower())
    if known:
        text = known._translate(env.lang)
    elif code in SIP_REASONS:
        text = SIP_REASONS[code]._translate(env.lang)
    elif reason.lower().startswith("the forward number failed"):
        text = env._("The forward number failed")
    else:
        text = reason
    if code and text:
        return f"{text} ({code})"
    return text or (str(code) if code else "")
