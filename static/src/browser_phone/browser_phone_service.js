import { reactive } from "@odoo/owl";
import { loadJS } from "@web/core/assets";
import { browser } from "@web/core/browser/browser";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { telephonySession } from "@ip_telephony/session/telephony_session";

/** Built at install time (bin/build-jssip), never committed. */
export const JSSIP_URL = "/ip_telephony/static/lib/jssip/jssip.min.js";
/** Held by the one tab that registers for all tabs of the user (B8). */
export const LOCK_NAME = "ip_telephony_browser_phone";
const CHANNEL_NAME = "ip_telephony_browser_phone";
const RING_HZ = 425; // the ring-back tone of Russian and most European exchanges
const DTMF_KEYS = new Set("0123456789*#ABCD");
const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** A call is in a state worth a ring, a card and buttons. */
function isLive(call) {
    return Boolean(call && call.state !== "ended");
}

/** Plain ws:// is refused but on this machine: passwords would travel in clear text. */
export function insecureWebSocket(url) {
    try {
        const parsed = new URL(url);
        return parsed.protocol === "ws:" && !LOCAL_HOSTS.has(parsed.hostname);
    } catch {
        return true;
    }
}

/** The message a user reads when getUserMedia refuses. */
export function microphoneMessage(error) {
    switch (error?.name) {
        case "NotAllowedError":
        case "SecurityError":
            return _t(
                "The browser does not allow this page to use the microphone. Allow it in the address bar (the lock or camera icon), then answer again."
            );
        case "NotFoundError":
        case "OverconstrainedError":
            return _t("No microphone was found. Connect a headset, then answer again.");
        case "NotReadableError":
        case "AbortError":
            return _t(
                "The microphone is used by another application or could not be started. Close it, then answer again."
            );
        default:
            return _t("The microphone could not be used: %(error)s", {
                error: error?.message || String(error),
            });
    }
}

/**
 * The ring tone, from WebAudio (no file): 1 s of tone, 3 s of silence.
 * A browser may keep the AudioContext suspended until the user clicks once
 * in the page (autoplay rules, F17): `blocked` then says so.
 */
class RingTone {
    constructor() {
        this.context = null;
        this.timer = null;
        this.nodes = [];
    }

    ensureContext() {
        const AudioContextClass = browser.AudioContext;
        if (!this.context && AudioContextClass) {
            this.context = new AudioContextClass();
        }
        return this.context;
    }

    get blocked() {
        return Boolean(this.context && this.context.state === "suspended");
    }

    async unlock() {
        const context = this.ensureContext();
        if (context && context.state === "suspended") {
            await context.resume();
        }
        return !this.blocked;
    }

    start() {
        const context = this.ensureContext();
        if (!context || this.timer) {
            return;
        }
        const beep = () => {
            const oscillator = context.createOscillator();
            const gain = context.createGain();
            oscillator.frequency.value = RING_HZ;
            gain.gain.value = 0.2;
            oscillator.connect(gain).connect(context.destination);
            oscillator.start();
            oscillator.stop(context.currentTime + 1);
            this.nodes.push(oscillator);
            oscillator.onended = () => {
                this.nodes = this.nodes.filter((node) => node !== oscillator);
            };
        };
        beep();
        this.timer = browser.setInterval(beep, 4000);
    }

    stop() {
        browser.clearInterval(this.timer);
        this.timer = null;
        for (const node of this.nodes) {
            try {
                node.stop();
            } catch {
                // already stopped
            }
        }
        this.nodes = [];
    }

    get ringing() {
        return Boolean(this.timer);
    }
}

/**
 * Calls in the browser (F16, F17, B8).
 *
 * One tab per user leads: it holds a Web Lock, registers over SIP-over-
 * WebSocket to the engine's edge with the user's SIP login (the same the
 * engine rings for click-to-call and incoming calls) and carries the media.
 * The other tabs follow: a BroadcastChannel mirrors the leader's state to
 * them, and their buttons are relayed to the leader. When the leading tab
 * closes, its lock is released and a follower takes over.
 */
export const browserPhoneService = {
    dependencies: ["notification", "orm"],

    start(env, { notification, orm }) {
        const state = reactive({
            enabled: Boolean(telephonySession().is_user && telephonySession().browser_calls),
            role: "off", // "leader" | "follower" | "off"
            registration: "off", // "connecting" | "registered" | "unregistered" | "failed" | "not_installed"
            error: "",
            call: null, // {direction, remote, remoteName, state, muted, held, answeredAt}
            audioBlocked: false,
            micError: "",
        });
        const api = {
            state,
            answer: () => command("answer"),
            reject: () => command("reject"),
            hangup: () => command("hangup"),
            toggleMute: () => command("mute"),
            toggleHold: () => command("hold"),
            sendDtmf: (key) => command("dtmf", key),
            unlockAudio,
        };
        if (!state.enabled) {
            return api;
        }

        const ring = new RingTone();
        let ua = null;
        let session = null;
        let remoteAudio = null;
        // STUN/TURN servers from Settings; none on the office network.
        let iceServers = [];
        const channel = browser.BroadcastChannel ? new browser.BroadcastChannel(CHANNEL_NAME) : null;

        // -- shared state ---------------------------------------------------
        function snapshot() {
            return {
                registration: state.registration,
                error: state.error,
                call: state.call ? { ...state.call } : null,
                micError: state.micError,
            };
        }

        function publish() {
            if (state.role === "leader" && channel) {
                channel.postMessage({ type: "state", state: snapshot() });
            }
        }

        function setCall(values) {
            state.call = values && { ...(state.call || {}), ...values };
            if (isLive(state.call) && state.call.state === "ringing" && state.call.direction === "inbound") {
                ring.start();
                refreshAudioBlocked();
            } else {
                ring.stop();
            }
            publish();
        }

        function setRegistration(registration, error = "") {
            state.registration = registration;
            state.error = error;
            publish();
        }

        let closeSoundReminder = null;

        /**
         * F17: a browser that blocks sound until the user clicks once would
         * ring silently; the reminder asks for that click.
         */
        function refreshAudioBlocked() {
            state.audioBlocked = ring.blocked;
            if (state.role !== "leader") {
                return;
            }
            if (state.audioBlocked && !closeSoundReminder) {
                closeSoundReminder = notification.add(
                    _t(
                        "This browser plays no sound until you click in the page once: click the button so that calls ring here."
                    ),
                    {
                        title: _t("Enable the ring of calls"),
                        type: "warning",
                        sticky: true,
                        className: "o_ipt_sound_reminder",
                        buttons: [
                            {
                                name: _t("Enable sound"),
                                primary: true,
                                onClick: () => unlockAudio(),
                            },
                        ],
                        onClose: () => {
                            closeSoundReminder = null;
                        },
                    }
                );
            } else if (!state.audioBlocked && closeSoundReminder) {
                const close = closeSoundReminder;
                closeSoundReminder = null;
                close();
            }
        }

        /** One click in the page lets the browser play the ring (F17). */
        async function unlockAudio() {
            try {
                await ring.unlock();
                if (remoteAudio && remoteAudio.paused && remoteAudio.srcObject) {
                    await remoteAudio.play();
                }
            } catch {
                // still blocked: the reminder stays
            }
            refreshAudioBlocked();
            return !state.audioBlocked;
        }

        // -- commands -------------------------------------------------------
        function command(name, arg) {
            if (state.role === "leader") {
                return perform(name, arg);
            }
            if (channel && state.role === "follower") {
                channel.postMessage({ type: "command", name, arg });
            }
        }

        async function perform(name, arg) {
            if (!session) {
                return;
            }
            try {
                switch (name) {
                    case "answer":
                        return await answer();
                    case "reject":
                        session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
                        return;
                    case "hangup":
                        session.terminate();
                        return;
                    case "mute":
                        if (session.isMuted().audio) {
                            session.unmute({ audio: true });
                        } else {
                            session.mute({ audio: true });
                        }
                        setCall({ muted: session.isMuted().audio });
                        return;
                    case "hold":
                        if (session.isOnHold().local) {
                            session.unhold();
                        } else {
                            session.hold();
                        }
                        return;
                    case "dtmf":
                        if (DTMF_KEYS.has(arg) && state.call?.state === "talking") {
                            session.sendDTMF(arg, { transportType: "RFC2833" });
                        }
                        return;
                }
            } catch (error) {
                // JsSIP refuses a command in the wrong state (hang up twice…).
                console.warn("browser phone:", name, error?.message || error);
            }
        }

        async function answer() {
            if (state.call?.state !== "ringing" || state.call.direction !== "inbound") {
                return;
            }
            let stream;
            try {
                stream = await browser.navigator.mediaDevices.getUserMedia({
                    audio: true,
                    video: false,
                });
            } catch (error) {
                state.micError = microphoneMessage(error);
                publish();
                notification.add(state.micError, {
                    title: _t("The call cannot be answered in the browser"),
                    type: "danger",
                    sticky: true,
                    className: "o_ipt_browser_phone_mic_error",
                });
                return;
            }
            state.micError = "";
            if (!session || session.isEnded()) {
                stream.getTracks().forEach((track) => track.stop());
                return;
            }
            await unlockAudio();
            session.answer({
                mediaStream: stream,
                mediaConstraints: { audio: true, video: false },
                pcConfig: { iceServers },
                rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
            });
        }

        // -- JsSIP (leader only) ---------------------------------------------
        function playRemote(peerConnection) {
            if (!remoteAudio) {
                remoteAudio = document.createElement("audio");
                remoteAudio.autoplay = true;
                remoteAudio.className = "o_ipt_browser_phone_audio d-none";
                document.body.appendChild(remoteAudio);
            }
            const attach = (event) => {
                if (event.track.kind === "audio") {
                    remoteAudio.srcObject = event.streams[0] || new MediaStream([event.track]);
                    remoteAudio.play().catch(() => {
                        state.audioBlocked = true;
                    });
                }
            };
            peerConnection.addEventListener("track", attach);
        }

        function onSession({ originator, session: newSession, request }) {
            if (originator !== "remote") {
                return;
            }
            if (session && !session.isEnded()) {
                // One call at a time in the browser: the engine tries the others.
                newSession.terminate({ status_code: 486, reason_phrase: "Busy Here" });
                return;
            }
            session = newSession;
            const identity = request.from;
            setCall({
                direction: "inbound",
                remote: identity.uri.user || "",
                remoteName: identity.display_name || "",
                state: "ringing",
                muted: false,
                held: false,
                answeredAt: false,
            });
            state.micError = "";
            const ended = () => {
                if (session === newSession) {
                    session = null;
                    setCall({ state: "ended" });
                    browser.setTimeout(() => {
                        if (!session && state.call?.state === "ended") {
                            setCall(null);
                        }
                    }, 3000);
                }
                if (remoteAudio) {
                    remoteAudio.srcObject = null;
                }
            };
            newSession.on("peerconnection", ({ peerconnection }) => playRemote(peerconnection));
            newSession.on("accepted", () =>
                setCall({ state: "talking", answeredAt: Date.now() })
            );
            newSession.on("hold", () => setCall({ held: true }));
            newSession.on("unhold", () => setCall({ held: false }));
            newSession.on("ended", ended);
            newSession.on("failed", ended);
        }

        async function register() {
            setRegistration("connecting");
            let settings;
            try {
                settings = await orm.silent.call("telephony.user", "browser_phone_settings", []);
            } catch {
                setRegistration("failed", _t("Odoo did not give the phone settings."));
                return;
            }
            if (!settings || !settings.ws_url) {
                setRegistration("off");
                return;
            }
            iceServers = settings.ice_servers || [];
            if (insecureWebSocket(settings.ws_url)) {
                setRegistration(
                    "failed",
                    _t(
                        "The browser phone needs a secure wss:// address; ws:// is only allowed on this machine (localhost)."
                    )
                );
                return;
            }
            try {
                await loadJS(JSSIP_URL);
            } catch {
                // fall through: no JsSIP
            }
            const JsSIP = window.JsSIP;
            if (!JsSIP) {
                setRegistration(
                    "not_installed",
                    _t("The browser phone is not installed on the server (run bin/build-jssip).")
                );
                notification.add(state.error, {
                    title: _t("Calls in the browser are not available"),
                    type: "warning",
                    className: "o_ipt_browser_phone_missing",
                });
                return;
            }
            ring.ensureContext();
            refreshAudioBlocked();
            if (state.audioBlocked) {
                // Any click in the page is the gesture the browser waits for.
                browser.addEventListener("pointerdown", unlockAudio, { capture: true, once: true });
            }
            const socket = new JsSIP.WebSocketInterface(settings.ws_url);
            ua = new JsSIP.UA({
                sockets: [socket],
                uri: settings.sip_uri,
                authorization_user: settings.login,
                password: settings.password,
                register: true,
                register_expires: 300,
                session_timers: false,
                user_agent: "Odoo browser phone",
            });
            ua.on("connecting", () => {
                if (state.registration !== "registered") {
                    setRegistration("connecting");
                }
            });
            ua.on("disconnected", () =>
                setRegistration("failed", _t("The telephony server cannot be reached."))
            );
            ua.on("registered", () => setRegistration("registered"));
            ua.on("unregistered", () => setRegistration("unregistered"));
            ua.on("registrationFailed", ({ cause }) =>
                setRegistration("failed", _t("Registration refused: %(cause)s", { cause }))
            );
            ua.on("newRTCSession", onSession);
            ua.start();
        }

        function stopUserAgent() {
            ring.stop();
            if (ua) {
                try {
                    if (session && !session.isEnded()) {
                        session.terminate();
                    }
                    ua.stop(); // unregisters: the next leader's registration is the only one
                } catch {
                    // the page is going away
                }
                ua = null;
            }
        }

        /** Say at once, not at the first call, that the microphone is blocked. */
        async function watchMicrophonePermission() {
            let status;
            try {
                status = await browser.navigator.permissions.query({ name: "microphone" });
            } catch {
                return; // a browser without this permission name: answering will tell
            }
            const apply = () => {
                if (status.state === "denied") {
                    state.micError = microphoneMessage({ name: "NotAllowedError" });
                } else if (status.state === "granted") {
                    state.micError = "";
                }
                publish();
            };
            status.addEventListener("change", apply);
            apply();
        }

        // -- leader election (B8) ---------------------------------------------
        function becomeLeader() {
            state.role = "leader";
            // What the previous leader showed died with it: its call ended
            // when its tab closed, and this tab registers anew.
            state.call = null;
            state.registration = "off";
            state.error = "";
            watchMicrophonePermission();
            register();
            browser.addEventListener("pagehide", stopUserAgent);
        }

        if (channel) {
            channel.onmessage = ({ data }) => {
                if (!data) {
                    return;
                }
                if (state.role === "leader") {
                    if (data.type === "command") {
                        perform(data.name, data.arg);
                    } else if (data.type === "hello") {
                        publish();
                    }
                } else if (data.type === "state") {
                    Object.assign(state, data.state);
                    refreshAudioBlocked();
                }
            };
        }

        const locks = browser.navigator.locks;
        if (locks && channel) {
            state.role = "follower";
            channel.postMessage({ type: "hello" });
            locks
                .request(LOCK_NAME, () => {
                    becomeLeader();
                    // Held for the life of the tab.
                    return new Promise(() => {});
                })
                .catch(() => {});
        } else {
            // No Web Locks (an old browser, or not a secure context): this tab alone.
            becomeLeader();
        }
        return api;
    },
};

registry.category("services").add("ip_telephony.browser_phone", browserPhoneService);
