// The stream picker of the create form: the source's streams (`POST /connectors/discover`) with
// search, capability hints and filters. Nothing picked means every stream.

import { api } from "./api.js";
import { h } from "./dom.js";

/** What the catalog says a stream can do, as short hints with a longer explanation each. */
export function capabilities(stream) {
  const metadata = stream.metadata ?? {};
  const events = [
    ...(metadata.event_types ?? []),
    ...Object.keys(metadata.sub_object_events ?? {}),
  ];
  const hints = [];
  if (stream.supports_time_range) {
    hints.push({
      key: "time-range",
      text: "time range",
      title: "backfilled by created-time ranges in parallel; a new run fetches only what is new",
    });
  } else {
    hints.push({
      key: "full-list",
      text: "full list",
      title: "no created filter: each run lists the stream in full",
    });
  }
  if (events.length) {
    hints.push({
      key: "live-events",
      text: "live events",
      title: `changes arrive through events: ${events.join(", ")}`,
    });
  } else {
    hints.push({
      key: "no-events",
      text: "no events",
      title: "no event reports its changes: they arrive with the next run",
    });
  }
  if (metadata.fan_out?.parent_stream) {
    hints.push({
      key: "child",
      text: `per ${metadata.fan_out.parent_stream}`,
      title: `listed once for each ${metadata.fan_out.parent_stream} object`,
    });
  }
  return { hints, timeRange: Boolean(stream.supports_time_range), liveEvents: events.length > 0 };
}

/** Returns `{element, load(source), selected()}`. */
export function streamPicker() {
  let streams = [];
  const chosen = new Set();
  let loadSequence = 0;

  const search = h("input", {
    id: "stream-search",
    type: "search",
    placeholder: "customers, invoice…",
    autocomplete: "off",
    "aria-controls": "stream-list",
  });
  const onlyTimeRange = h("input", { id: "stream-only-time-range", type: "checkbox" });
  const onlyLive = h("input", { id: "stream-only-live", type: "checkbox" });
  const status = h("p", { class: "picker-status", id: "stream-status", role: "status" });
  const problem = h("p", { class: "picker-problem", id: "stream-problem", hidden: true });
  const list = h("ul", { class: "stream-list", id: "stream-list", "aria-label": "Streams" });

  function visible() {
    const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    return streams.filter((stream) => {
      const { timeRange, liveEvents } = capabilities(stream);
      if (onlyTimeRange.checked && !timeRange) return false;
      if (onlyLive.checked && !liveEvents) return false;
      return words.every((word) => stream.name.toLowerCase().includes(word));
    });
  }

  function describeSelection(shown) {
    if (streams.length === 0) return;
    const picked =
      chosen.size === 0 ? "none picked: every stream is synced" : `${chosen.size} picked`;
    status.textContent = `${shown} of ${streams.length} streams shown · ${picked}`;
  }

  function render() {
    const shown = visible();
    list.replaceChildren(
      ...shown.map((stream) => {
        const id = `stream-${stream.name}`;
        const { hints } = capabilities(stream);
        const hintsId = `${id}-hints`;
        const box = h("input", {
          type: "checkbox",
          id,
          value: stream.name,
          checked: chosen.has(stream.name),
          "aria-describedby": hintsId,
          onchange: (event) => {
            if (event.target.checked) chosen.add(stream.name);
            else chosen.delete(stream.name);
            describeSelection(visible().length);
          },
        });
        return h(
          "li",
          { class: "stream-item" },
          box,
          h("label", { for: id }, stream.name),
          h(
            "span",
            { class: "hints", id: hintsId },
            hints.map((hint) =>
              h("span", { class: `hint-chip hint-${hint.key}`, title: hint.title }, hint.text),
            ),
          ),
        );
      }),
    );
    if (streams.length && shown.length === 0) {
      list.append(h("li", { class: "stream-empty" }, "No stream matches."));
    }
    describeSelection(shown.length);
  }

  function choose(names, on) {
    for (const name of names) {
      if (on) chosen.add(name);
      else chosen.delete(name);
    }
    render();
  }

  for (const input of [search, onlyTimeRange, onlyLive]) input.addEventListener("input", render);

  const element = h(
    "div",
    { class: "stream-picker" },
    h(
      "div",
      { class: "picker-toolbar" },
      h("div", { class: "field" }, h("label", { for: "stream-search" }, "Search streams"), search),
      h(
        "div",
        { class: "picker-filters", role: "group", "aria-label": "Filter streams" },
        h(
          "div",
          { class: "check" },
          onlyTimeRange,
          h("label", { for: "stream-only-time-range" }, "only time-range streams"),
        ),
        h(
          "div",
          { class: "check" },
          onlyLive,
          h("label", { for: "stream-only-live" }, "only streams with live events"),
        ),
      ),
      h(
        "div",
        { class: "picker-buttons" },
        h(
          "button",
          {
            type: "button",
            onclick: () =>
              choose(
                visible().map((s) => s.name),
                true,
              ),
          },
          "Pick all shown",
        ),
        h("button", { type: "button", onclick: () => choose([...chosen], false) }, "Clear"),
      ),
    ),
    status,
    problem,
    list,
  );
  status.textContent = "Fill in the source settings to see its streams.";

  /** List the streams of `source` ({type, config}); keeps the picks that still exist. */
  async function load(source) {
    const sequence = ++loadSequence;
    status.textContent = "Listing streams…";
    try {
      const answer = await api("POST", "/connectors/discover", { body: source });
      if (sequence !== loadSequence) return;
      streams = answer.streams;
      const names = new Set(streams.map((stream) => stream.name));
      for (const name of [...chosen]) if (!names.has(name)) chosen.delete(name);
      problem.hidden = true;
      render();
    } catch (error) {
      if (sequence !== loadSequence) return;
      streams = [];
      list.replaceChildren();
      status.textContent = "The streams appear once the source settings are valid.";
      problem.textContent = error.message;
      problem.hidden = false;
    }
  }

  const selected = () => streams.filter((stream) => chosen.has(stream.name)).map((s) => s.name);
  return { element, load, selected };
}
