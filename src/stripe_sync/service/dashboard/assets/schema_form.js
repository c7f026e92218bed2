// Form fields generated from a connector's config JSON Schema (its `spec().config`).
//
// Required properties come first; the others wait behind "Optional settings". Secrets (`"secret":
// true`, `writeOnly` or `format: "password"`) are password fields. Only what the user entered is
// sent, so the connector's defaults apply to the rest. Values the form cannot express directly
// (objects, mixed types) are typed as JSON. Given a pipeline's current config (editing), the fields
// show its values; a stored secret stays empty ("stored; type to replace") and is kept when left so.

import { h } from "./dom.js";

const NULL = (branch) => branch?.type === "null";

/** The property with a nullable `anyOf` folded in, and the kind of input it needs. */
function describe(name, property, required) {
  let prop = property;
  let mixed = false;
  if (Array.isArray(property.anyOf)) {
    const branches = property.anyOf.filter((branch) => !NULL(branch));
    mixed = branches.length > 1;
    prop = mixed ? property : { ...branches[0], ...property };
  }
  const secret = Boolean(
    prop.secret ||
    prop.writeOnly ||
    prop.format === "password" ||
    prop.items?.format === "password",
  );
  let kind = "json";
  if (mixed) kind = "mixed";
  else if (Array.isArray(prop.enum)) kind = "choice";
  else if (prop.type === "string") kind = "text";
  else if (prop.type === "integer" || prop.type === "number") kind = "number";
  else if (prop.type === "boolean") kind = "boolean";
  else if (prop.type === "array" && (prop.items?.type ?? "string") === "string") kind = "list";
  return {
    name,
    prop,
    kind,
    secret,
    required,
    title: prop.title ?? name,
    description: prop.description ?? "",
  };
}

function defaultText(field) {
  const value = field.prop.default;
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function makeInput(field, id) {
  const { prop, kind, secret } = field;
  const common = { id, name: field.name, required: field.required };
  if (kind === "choice") {
    const options = prop.enum.map((value) => h("option", { value: String(value) }, String(value)));
    if (!field.required) {
      const label = prop.default !== undefined ? `default (${prop.default})` : "not set";
      options.unshift(h("option", { value: "" }, label));
    }
    return h("select", common, options);
  }
  if (kind === "boolean") {
    return h("input", { ...common, type: "checkbox", checked: prop.default === true });
  }
  if (kind === "number") {
    const minimum = prop.minimum ?? prop.exclusiveMinimum;
    return h("input", {
      ...common,
      type: "number",
      inputmode: prop.type === "integer" ? "numeric" : "decimal",
      step: prop.type === "integer" ? "1" : "any",
      min: minimum,
      max: prop.maximum,
      placeholder: defaultText(field),
    });
  }
  if (kind === "json") {
    return h("textarea", {
      ...common,
      rows: 3,
      spellcheck: "false",
      placeholder: defaultText(field) || "JSON",
    });
  }
  return h("input", {
    ...common,
    type: secret ? "password" : "text",
    autocomplete: secret ? "new-password" : "off",
    spellcheck: "false",
    placeholder: kind === "list" ? defaultText(field) || "comma-separated" : defaultText(field),
  });
}

function hintFor(field) {
  const notes = [];
  if (field.description) notes.push(field.description);
  if (field.kind === "list") notes.push("several values: separate them with commas");
  if (field.kind === "mixed" || field.kind === "json") notes.push("a value or JSON");
  if (field.secret) notes.push("secret: stored by the service, never shown again");
  return notes.join(" · ");
}

/** The value to send, `undefined` for "leave the connector's default"; throws on bad JSON. */
function readValue(field, input) {
  const { kind, prop } = field;
  if (kind === "boolean") {
    return input.checked === (prop.default === true) ? undefined : input.checked;
  }
  const text = input.value.trim();
  if (text === "") return undefined;
  if (kind === "number") return Number(text);
  if (kind === "choice" || kind === "text") return text;
  if (kind === "list") {
    return text
      .split(/[\s,]+/)
      .map((item) => item.trim())
      .filter(Boolean);
  }
  if (kind === "mixed") {
    if (/^[[{"]/.test(text) || /^-?\d/.test(text)) return JSON.parse(text);
    const branches = prop.anyOf.filter((branch) => !NULL(branch));
    if (branches.some((branch) => branch.enum?.includes(text) || branch.type === "string")) {
      return text;
    }
    if (branches.some((branch) => branch.type === "array")) {
      return text.split(/[\s,]+/).filter(Boolean);
    }
    return text;
  }
  return JSON.parse(text);
}

/** Show a stored `value` in `input` (secrets stay empty: the service never returns them). */
function fill(field, input, value) {
  if (value === undefined || value === null) return;
  if (field.secret) {
    input.required = false;
    input.placeholder = "stored; type to replace";
  } else if (field.kind === "boolean") {
    input.checked = value === true;
  } else if (field.kind === "list" && Array.isArray(value)) {
    input.value = value.join(", ");
  } else if (typeof value === "object" || (field.kind === "json" && typeof value !== "string")) {
    input.value = JSON.stringify(value);
  } else {
    input.value = String(value);
  }
}

/**
 * The fields of `schema` for the connector side `side` ("source" or "destination"), showing
 * `values` (a stored config) when given.
 * Returns `{element, read(), changes(), fieldFor(name)}`; `read()` gives the config object and
 * marks inputs whose JSON does not parse as invalid (the form's validity check then reports
 * them); `changes()` gives what differs from `values` as a PATCH takes it (`null` removes a key,
 * an untouched secret is left out, so the stored one stays).
 */
export function configFields(schema, side, values = null) {
  const required = new Set(schema?.required ?? []);
  const properties = Object.entries(schema?.properties ?? {});
  const fields = properties.map(([name, prop]) => describe(name, prop, required.has(name)));
  const inputs = new Map();

  function row(field) {
    const id = `${side}-config-${field.name}`;
    const hintId = `${id}-hint`;
    const input = makeInput(field, id);
    const hint = hintFor(field);
    if (hint) input.setAttribute("aria-describedby", hintId);
    input.addEventListener("input", () => input.setCustomValidity(""));
    inputs.set(field.name, { field, input });
    if (values) fill(field, input, values[field.name]);
    const label = h(
      "label",
      { for: id },
      field.title,
      field.required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null,
      " ",
      h("code", { class: "field-key" }, field.name),
    );
    const wide = field.kind === "json";
    const classes = `field field-${field.kind}${wide ? " field-wide" : ""}`;
    if (field.kind === "boolean") {
      return h(
        "div",
        { class: classes },
        h("div", { class: "check" }, input, label),
        hint ? h("p", { class: "hint", id: hintId }, hint) : null,
      );
    }
    return h(
      "div",
      { class: classes },
      label,
      input,
      hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    );
  }

  const mandatory = fields.filter((field) => field.required).map(row);
  const optional = fields.filter((field) => !field.required).map(row);
  const element = h(
    "div",
    { class: "config-fields" },
    mandatory.length ? h("div", { class: "field-grid" }, mandatory) : null,
    optional.length
      ? h(
          "details",
          { class: "optional-settings" },
          h("summary", null, `Optional ${side} settings (${optional.length})`),
          h("div", { class: "field-grid" }, optional),
        )
      : null,
    fields.length === 0 ? h("p", { class: "hint" }, "This connector has no settings.") : null,
  );

  function read() {
    const config = {};
    for (const { field, input } of inputs.values()) {
      try {
        const value = readValue(field, input);
        if (value !== undefined) config[field.name] = value;
      } catch (error) {
        input.setCustomValidity(`not valid JSON: ${error.message}`);
      }
    }
    return config;
  }

  function changes() {
    const now = read();
    const patch = {};
    for (const { field } of inputs.values()) {
      const before = values?.[field.name];
      const after = now[field.name];
      if (field.secret) {
        if (after !== undefined) patch[field.name] = after;
      } else if (after === undefined) {
        if (before !== undefined && before !== null) patch[field.name] = null;
      } else if (JSON.stringify(after) !== JSON.stringify(before)) {
        patch[field.name] = after;
      }
    }
    return patch;
  }

  return { element, read, changes, fieldFor: (name) => inputs.get(name)?.input ?? null };
}

/**
 * Mark the config field a service message names ("invalid source config: api_key: …",
 * "unsupported destination URL scheme …") as invalid, described by `problem`; editing it
 * unmarks it. `sides` maps "source"/"destination" to their `configFields`.
 */
export function markNamedField(message, sides, problem) {
  const match = /\b(source|destination)(?: config:)? (\w+)/.exec(message);
  const input = match ? sides[match[1]]?.fieldFor(match[2].toLowerCase()) : null;
  if (!input) return;
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-errormessage", problem.id);
  input.closest("details")?.setAttribute("open", "");
  input.addEventListener("input", () => input.removeAttribute("aria-invalid"), { once: true });
}

/** Clear `problem` (a form's error) once the user changes a setting: the form is being fixed. */
export function clearOnEdit(form, problem) {
  form.addEventListener("input", (event) => {
    if (event.target.closest(".stream-picker")) return;
    problem.replaceChildren();
  });
}
