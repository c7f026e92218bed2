// The edit page of one pipeline: its name, source and destination settings (the connectors'
// config schemas, showing the stored values; secrets stay empty and are kept unless retyped) and
// options, sent as `PATCH /pipelines/{id}` with `If-Match` (the version the page loaded: the
// service refuses the change with 412 when someone saved the pipeline meanwhile). A pipeline
// parked in `error` is resumed after the change, so a fixed key takes effect at once.

import { ApiError, api, pipelinePath } from "./api.js";
import { h, setFlash } from "./dom.js";
import { clearOnEdit, configFields, markNamedField } from "./schema_form.js";

function numberField(id, key, label, value, hint) {
  const input = h("input", {
    id,
    name: key,
    type: "number",
    min: 1,
    step: 1,
    value: value ?? "",
    "aria-describedby": `${id}-hint`,
  });
  const element = h(
    "div",
    { class: "field" },
    h("label", { for: id }, `${label} `, h("code", { class: "field-key" }, key)),
    input,
    h("p", { class: "hint", id: `${id}-hint` }, hint),
  );
  return { element, input };
}

function side(title, kind, ref, connectors) {
  const connector = connectors.find((c) => c.type === ref.type);
  const fields = configFields(connector?.spec?.config ?? {}, kind, ref.config ?? {});
  const element = h(
    "fieldset",
    { class: `side side-${kind}` },
    h("legend", null, `${title} · ${ref.type}`),
    fields.element,
  );
  return { element, fields };
}

export function renderEdit(main, id) {
  const controller = new AbortController();
  const { signal } = controller;
  document.title = `Edit ${id} · stripe-sync`;
  const status = h("p", { class: "loading", role: "status" }, "Loading the pipeline…");
  const detailHref = `#/pipelines/${encodeURIComponent(id)}`;
  main.append(
    h(
      "nav",
      { class: "breadcrumb", "aria-label": "Breadcrumb" },
      h("a", { href: "#/" }, "Pipelines"),
      " / ",
      h("a", { href: detailHref }, id),
      " / ",
      h("span", { "aria-current": "page" }, "Edit"),
    ),
    h("h1", { tabindex: "-1" }, "Edit pipeline"),
    status,
  );

  Promise.all([
    api("GET", pipelinePath(id), { signal }),
    api("GET", "/connectors", { signal }),
  ])
    .then(([pipeline, connectors]) => {
      status.remove();
      main.append(form(pipeline, connectors));
    })
    .catch((error) => {
      if (signal.aborted) return;
      status.textContent = `Cannot load the pipeline: ${error.message}`;
    });

  function form(pipeline, connectors) {
    const source = side("Source", "source", pipeline.source, connectors.sources);
    const destination = side(
      "Destination",
      "destination",
      pipeline.destination,
      connectors.destinations,
    );
    const name = h("input", {
      id: "pipeline-name",
      name: "name",
      type: "text",
      required: true,
      autocomplete: "off",
      value: pipeline.name,
    });
    const limit = numberField(
      "pipeline-backfill-limit",
      "backfill_limit",
      "Backfill limit",
      pipeline.backfill_limit,
      "only the newest N objects of each stream (empty: everything)",
    );
    const parallel = pipeline.accounts
      ? numberField(
          "pipeline-max-parallel-accounts",
          "max_parallel_accounts",
          "Accounts backfilling at once",
          pipeline.max_parallel_accounts,
          "connected accounts in their first backfill at the same time",
        )
      : null;
    const problem = h("div", {
      class: "form-problem",
      id: "edit-problem",
      role: "alert",
      tabindex: "-1",
    });
    const submit = h("button", { type: "submit", class: "primary" }, "Save changes");
    const streams = pipeline.streams?.length ? pipeline.streams.join(", ") : "every stream";

    function changes() {
      const patch = {};
      if (name.value.trim() !== pipeline.name) patch.name = name.value.trim();
      const sourceConfig = source.fields.changes();
      if (Object.keys(sourceConfig).length) patch.source = { config: sourceConfig };
      const destinationConfig = destination.fields.changes();
      if (Object.keys(destinationConfig).length) patch.destination = { config: destinationConfig };
      const limitValue = limit.input.value ? Number(limit.input.value) : null;
      if (limitValue !== (pipeline.backfill_limit ?? null)) patch.backfill_limit = limitValue;
      if (parallel?.input.value) {
        const value = Number(parallel.input.value);
        if (value !== pipeline.max_parallel_accounts) patch.max_parallel_accounts = value;
      }
      return patch;
    }

    function refuse(prefix, message, reload = false) {
      problem.replaceChildren(
        h("strong", null, prefix),
        message,
        reload
          ? h(
              "button",
              { type: "button", onclick: () => window.location.reload() },
              "Reload the current version",
            )
          : null,
      );
      problem.focus();
    }

    async function save(event) {
      event.preventDefault();
      problem.replaceChildren();
      const formElement = event.target;
      const patch = changes();
      if (!formElement.checkValidity()) {
        formElement.reportValidity();
        return;
      }
      if (Object.keys(patch).length === 0) {
        refuse("Nothing to save: ", "no setting was changed.");
        return;
      }
      submit.disabled = true;
      submit.textContent = "Saving…";
      try {
        const saved = await api("PATCH", pipelinePath(id), {
          body: patch,
          headers: { "If-Match": `"${pipeline.version}"` },
          signal,
        });
        let note = `Saved ${saved.name} (version ${saved.version}).`;
        if (saved.status === "error") {
          await api("POST", `${pipelinePath(id)}/resume`, { signal });
          note += " It was parked: resumed with the new settings.";
        }
        setFlash(note);
        location.hash = detailHref;
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.status === 412) {
          refuse(
            "Someone saved this pipeline after this page loaded: ",
            "nothing was changed. Reload to edit the current version. ",
            true,
          );
        } else if (error instanceof ApiError && error.status === 400) {
          refuse("The service refused the change: ", error.message);
          markNamedField(error.message, { source: source.fields, destination: destination.fields }, problem);
        } else {
          refuse("Could not save: ", error.message);
        }
      } finally {
        submit.disabled = false;
        submit.textContent = "Save changes";
      }
    }

    const element = h(
      "form",
      { class: "create-form edit-form", onsubmit: save, "aria-label": "Edit pipeline" },
      h(
        "p",
        { class: "muted" },
        `Version ${pipeline.version} · streams: ${streams}. Changes apply from the next call.`,
      ),
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
      h(
        "fieldset",
        { class: "side" },
        h("legend", null, "Options"),
        limit.element,
        parallel?.element,
      ),
      problem,
      h(
        "div",
        { class: "form-actions" },
        submit,
        h("a", { href: detailHref, class: "button" }, "Cancel"),
      ),
    );
    clearOnEdit(element, problem);
    return element;
  }

  return () => controller.abort();
}
