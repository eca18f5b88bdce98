import { registry } from "@web/core/registry";

const ROW = ".o_list_view .o_data_row";

function openFilter(label) {
    return [
        {
            content: "Open the search options",
            trigger: ".o_searchview_dropdown_toggler",
            run: "click",
        },
        {
            content: `Pick "${label}"`,
            trigger: `.o_dropdown_container .dropdown-item:contains(${label})`,
            run: "click",
        },
        {
            content: "Close the search options",
            trigger: ".o_searchview_dropdown_toggler",
            run: "click",
        },
    ];
}

/**
 * The call log as a sales user sees it: talk time as m:ss in one column,
 * the end time, outcomes told apart, play and download in the row, the
 * filters, and the pivot of talk time per user.
 */
registry.category("web_tour.tours").add("ip_telephony_call_log", {
    steps: () => [
        {
            content: "The answered call shows its talk time as m:ss",
            trigger: `${ROW}:contains(Ivan Petrov) td[name=duration]:contains(1:05)`,
        },
        {
            content: "in one Duration column, next to the end time",
            trigger: ".o_list_view thead th[data-name=end_date]",
            run() {
                const durations = [...document.querySelectorAll(".o_list_view thead th")].filter(
                    (th) => th.textContent.trim() === "Duration"
                );
                if (durations.length !== 1) {
                    throw new Error(`${durations.length} Duration columns`);
                }
                if (document.querySelector(".o_list_view thead th[data-name=has_recording] .o_list_boolean")) {
                    throw new Error("The recording is a check box");
                }
            },
        },
        {
            content: "The call the client declined says so",
            trigger: `${ROW} td[name=outcome]:contains(Declined)`,
        },
        {
            content: "and the busy line too",
            trigger: `${ROW} td[name=outcome]:contains(Busy)`,
        },
        {
            content: "The recorded call has a download button on the audited route",
            trigger: `${ROW}:contains(Ivan Petrov) .o_telephony_recording_download[href$='?download=1']`,
        },
        {
            content: "Play it in the row",
            trigger: `${ROW}:contains(Ivan Petrov) .o_telephony_recording_play`,
            run: "click",
        },
        {
            content: "A player streams the recording, and the list stays open",
            trigger: `${ROW}:contains(Ivan Petrov) audio.o_telephony_recording_audio[src^='/telephony/recording/']`,
            run() {
                if (!document.querySelector(".o_list_view")) {
                    throw new Error("Playing opened the call");
                }
            },
        },
        ...openFilter("With recording"),
        {
            content: "Only the recorded call is left",
            trigger: `.o_list_view:not(:has(.o_data_row:contains(Declined))) .o_data_row:contains(Ivan Petrov)`,
        },
        {
            content: "Remove the filter",
            trigger: ".o_searchview_facet .o_facet_remove",
            run: "click",
        },
        ...openFilter("Missed"),
        {
            content: "The missed incoming call is listed, and nothing else",
            trigger: `.o_list_view:not(:has(.o_data_row:contains(Declined))) .o_data_row td[name=outcome]:contains(No answer)`,
        },
        {
            content: "Remove the filter",
            trigger: ".o_searchview_facet .o_facet_remove",
            run: "click",
        },
        ...openFilter("Today"),
        {
            content: "Today's calls are listed, not last month's",
            trigger: `.o_list_view:not(:has(.o_data_row:contains(Old Client))) .o_data_row:contains(Ivan Petrov)`,
        },
        {
            content: "Switch to the pivot",
            trigger: ".o_switch_view.o_pivot",
            run: "click",
        },
        {
            content: "The pivot shows the user's talk time as m:ss",
            trigger: ".o_pivot tbody tr:contains(Sally Sales) td:contains(1:05)",
        },
        {
            content: "Switch to the graph",
            trigger: ".o_switch_view.o_graph",
            run: "click",
        },
        {
            content: "The graph is drawn",
            trigger: ".o_graph_renderer canvas",
        },
    ],
});
