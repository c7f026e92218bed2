// Building elements and formatting figures: the small toolkit every page of the dashboard uses.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(element, props) {
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "text") {
      element.textContent = value;
    } else if (key === "value" || key === "checked") {
      element[key] = value;
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

/** An HTML element: `h("a", {href: "#/"}, "Pipelines")`; `on…` props are listeners. */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  apply(element, props);
  append(element, children);
  return element;
}

/** An SVG element, with the same props as `h`. */
export function svg(tag, props, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  apply(element, props);
  append(element, children);
  return element;
}

/** A column header of `dataTable` whose cells hold numbers (right-aligned). */
export const numeric = (title) => ({ title, numeric: true });

/** A table with column headers and a caption for screen readers; `body` is its `<tbody>`. */
export function dataTable(className, caption, columns, body) {
  const headers = columns.map((column) =>
    column.numeric
      ? h("th", { scope: "col", class: "num" }, column.title)
      : h("th", { scope: "col" }, column),
  );
  return h(
    "table",
    { class: className },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", null, h("tr", null, headers)),
    body,
  );
}

const INTEGER = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const DECIMAL = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const DASH = "–";

export function formatCount(value) {
  return value === null || value === undefined ? DASH : INTEGER.format(value);
}

/** A rate: whole numbers from 100 up, one decimal below. */
export function formatRate(value) {
  if (value === null || value === undefined) return DASH;
  return value >= 100 ? INTEGER.format(value) : DECIMAL.format(value);
}

/** Seconds as the CLI writes them: 42s, 3m05s, 2h07m. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return DASH;
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** A 0..1 fraction as a percentage, rounded down so that only a whole is 100 %. */
export function formatPercent(fraction) {
  if (fraction === null || fraction === undefined) return DASH;
  return `${Math.floor(fraction * 1000) / 10} %`;
}

/** How long ago an ISO time was, in words a person reads at a glance. */
export function formatAgo(iso, now = Date.now()) {
  if (!iso) return DASH;
  const seconds = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (seconds < 5) return "just now";
  return `${formatDuration(seconds)} ago`;
}

/** How long since an ISO time, as a duration (42s, 3m05s). */
export function formatSince(iso, now = Date.now()) {
  if (!iso) return DASH;
  return formatDuration(Math.max(0, (now - Date.parse(iso)) / 1000));
}

/** A `<time>` showing how long ago, with the exact time as its tooltip. */
export function timeAgo(iso) {
  if (!iso) return DASH;
  const exact = new Date(iso).toLocaleString();
  return h("time", { datetime: iso, title: exact }, formatAgo(iso));
}

// Each status has a symbol as well as a colour, so it reads without colour too.
const SYMBOLS = {
  setup: "◌",
  backfilling: "▶",
  live: "●",
  paused: "❚❚",
  error: "✕",
  deleting: "⌫",
  pending: "○",
  started: "▶",
  complete: "✓",
  skipped: "–",
  failed: "✕",
  global: "✕",
  account: "✕",
  stream: "!",
  transient: "↻",
  no_worker: "⚠",
  lost: "✕",
};

// Statuses whose word differs from their API value.
const LABELS = { no_worker: "no worker" };

export function badge(status) {
  const name = String(status ?? "unknown");
  return h(
    "span",
    { class: `badge badge-${name.replace(/[^a-z_-]/gi, "")}` },
    h("span", { "aria-hidden": "true", class: "badge-symbol" }, SYMBOLS[name] ?? "•"),
    h("span", { class: "badge-text" }, LABELS[name] ?? name),
  );
}

/** Tell screen readers about something that happened outside the focused element. */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = message;
  }, 50);
}

/** Sleep unless the signal aborts first. */
export function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = window.setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      window.clearTimeout(timer);
      resolve();
    });
  });
}

let flash = null;

/** A message for the next page to show (e.g. "deleted" after leaving a pipeline's page). */
export function setFlash(message) {
  flash = message;
}

export function takeFlash() {
  const message = flash;
  flash = null;
  return message;
}
