// The create page: a pipeline composed from the connectors' config schemas (`GET /connectors`)
// and the stream picker, sent as `POST /pipelines`. The service validates it; its message is
// shown above the button and, when it names a config field, on that field; it goes away as soon as
// a setting is changed.

import { ApiError, api } from "./api.js";
import { clearOnEdit, configFields, markNamedField } from "./schema_form.js";
import { h } from "./dom.js";
import { streamPicker } from "./stream_picker.js";

const PREFERRED = { source: "stripe", destination: "postgres" };
const DISCOVER_DELAY_MS = 400;

function connectorSide(side, connectors, onChange) {
  const typeId = `${side}-type`;
  const select = h(
    "select",
    { id: typeId, name: `${side}-type` },
    connectors.map((c) => h("option", { value: c.type }, c.type)),
  );
  if (connectors.some((c) => c.type === PREFERRED[side])) select.value = PREFERRED[side];
  const holder = h("div", { class: "config-holder" });
  let fields = null;

  function showFields() {
    const connector = connectors.find((c) => c.type === select.value);
    fields = configFields(connector?.spec?.config ?? {}, side);
    holder.replaceChildren(fields.element);
  }
  select.addEventListener("change", () => {
    showFields();
    onChange();
  });
  holder.addEventListener("change", onChange);
  showFields();

  const title = side === "source" ? "Source" : "Destination";
  const element = h(
    "fieldset",
    { class: `side side-${side}` },
    h("legend", null, title),
    h("div", { class: "field" }, h("label", { for: typeId }, `${title} type`), select),
    holder,
  );
  return {
    element,
    value: () => ({ type: select.value, config: fields.read() }),
    fieldFor: (name) => fields.fieldFor(name),
  };
}

export function renderCreate(main) {
  const controller = new AbortController();
  document.title = "New pipeline · stripe-sync";
  const status = h("p", { class: "loading", role: "status" }, "Loading the connectors…");
  main.append(h("h1", { tabindex: "-1" }, "New pipeline"), status);

  api("GET", "/connectors", { signal: controller.signal })
    .then((connectors) => {
      status.remove();
      main.append(form(connectors));
    })
    .catch((error) => {
      if (!controller.signal.aborted)
        status.textContent = `Cannot load the connectors: ${error.message}`;
    });

  function form(connectors) {
    const picker = streamPicker();
    let discoverTimer = 0;
    const scheduleDiscover = () => {
      window.clearTimeout(discoverTimer);
      discoverTimer = window.setTimeout(() => picker.load(source.value()), DISCOVER_DELAY_MS);
    };
    const source = connectorSide("source", connectors.sources, scheduleDiscover);
    const destination = connectorSide("destination", connectors.destinations, () => {});
    const name = h("input", {
      id: "pipeline-name",
      name: "name",
      type: "text",
      required: true,
      autocomplete: "off",
    });
    const limit = h("input", {
      id: "pipeline-backfill-limit",
      name: "backfill_limit",
      type: "number",
      min: 1,
      step: 1,
      "aria-describedby": "pipeline-backfill-limit-hint",
    });
    const problem = h("div", {
      class: "form-problem",
      id: "create-problem",
      role: "alert",
      tabindex: "-1",
    });
    const submit = h("button", { type: "submit", class: "primary" }, "Create pipeline");

    async function create(event) {
      event.preventDefault();
      problem.textContent = "";
      const body = {
        name: name.value.trim(),
        source: source.value(),
        destination: destination.value(),
      };
      const streams = picker.selected();
      if (streams.length) body.streams = streams;
      if (limit.value) body.backfill_limit = Number(limit.value);
      const formElement = event.target;
      if (!formElement.checkValidity()) {
        for (const invalid of formElement.querySelectorAll(":invalid")) {
          invalid.closest("details")?.setAttribute("open", "");
        }
        formElement.reportValidity();
        return;
      }
      submit.disabled = true;
      submit.textContent = "Creating…";
      try {
        const created = await api("POST", "/pipelines", { body, signal: controller.signal });
        location.hash = `#/pipelines/${encodeURIComponent(created.id)}`;
      } catch (error) {
        if (controller.signal.aborted) return;
        const refused = error instanceof ApiError && error.status === 400;
        problem.replaceChildren(
          h(
            "strong",
            null,
            refused ? "The service refused the pipeline: " : "Could not create it: ",
          ),
          error.message,
        );
        markNamedField(error.message, { source, destination }, problem);
        problem.focus();
      } finally {
        submit.disabled = false;
        submit.textContent = "Create pipeline";
      }
    }

    const element = h(
      "form",
      { class: "create-form", onsubmit: create, "aria-label": "New pipeline" },
      h(
        "div",
        { class: "field" },
        h(
          "label",
          { for: "pipeline-name" },
          "Name",
          h("span", { class: "required", "aria-hidden": "true" }, " *"),
        ),
        name,
      ),
      source.element,
      destination.element,
      h("fieldset", { class: "side side-streams" }, h("legend", null, "Streams"), picker.element),
      h(
        "fieldset",
        { class: "side" },
        h("legend", null, "Options"),
        h(
          "div",
          { class: "field" },
          h(
            "label",
            { for: "pipeline-backfill-limit" },
            "Backfill limit ",
            h("code", { class: "field-key" }, "backfill_limit"),
          ),
          limit,
          h(
            "p",
            { class: "hint", id: "pipeline-backfill-limit-hint" },
            "only the newest N objects of each stream (empty: everything)",
          ),
        ),
      ),
      problem,
      h(
        "div",
        { class: "form-actions" },
        submit,
        h("a", { href: "#/", class: "button" }, "Cancel"),
      ),
    );
    clearOnEdit(element, problem);
    scheduleDiscover();
    return element;
  }

  return () => controller.abort();
}
