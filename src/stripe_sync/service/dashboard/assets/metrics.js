// The subscription metrics of the detail page, from `GET /pipelines/{id}/metrics`: per currency, a
// bar chart (SVG) of MRR at each month's end and a table of how it moved (new, expansion,
// contraction, churn, reactivation), subscribers and churn rates. Amounts come in the currency's
// minor unit and are shown in its major one. The definitions are in docs/metrics.md.

import { api, pipelinePath } from "./api.js";
import { gridLines, niceCeiling } from "./chart.js";
import { dataTable, formatCount, h, numeric, svg } from "./dom.js";

const MONTHS = 12;
const WIDTH = 960;
const HEIGHT = 200;
const PAD = { left: 72, right: 12, top: 12, bottom: 26 };
const MOVEMENTS = ["new", "expansion", "contraction", "churn", "reactivation"];
const ZERO_DECIMAL = new Set(
  "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split(" "),
);

/** An amount in minor units as the currency writes it: "1,234.50 USD". */
export function formatMoney(minor, currency) {
  const digits = ZERO_DECIMAL.has(currency) ? 0 : 2;
  const major = minor / 10 ** digits;
  const text = major.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  return `${text} ${currency.toUpperCase()}`;
}

function formatRate(fraction) {
  return fraction === null || fraction === undefined ? "–" : `${(fraction * 100).toFixed(1)} %`;
}


/** One bar per month: MRR at its end (the current month: now). */
function mrrChart(currency, rows) {
  const top = niceCeiling(Math.max(0, ...rows.map((row) => row.mrr)), 1);
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const slot = innerW / rows.length;
  const y = (value) => PAD.top + innerH - (value / top) * innerH;
  const axisLabel = (value) => formatMoney(value, currency).split(" ")[0];
  const parts = gridLines(y, top, PAD, WIDTH, axisLabel);
  rows.forEach((row, index) => {
    const x = PAD.left + index * slot;
    const bar = svg(
      "rect",
      {
        class: "bar-mrr",
        x: (x + slot * 0.15).toFixed(1),
        width: (slot * 0.7).toFixed(1),
        y: y(row.mrr).toFixed(1),
        height: (y(0) - y(row.mrr)).toFixed(1),
        dataset: { month: row.month, mrr: String(row.mrr) },
      },
      svg("title", null, `${row.month}: ${formatMoney(row.mrr, currency)}`),
    );
    parts.push(
      bar,
      svg(
        "text",
        { class: "axis", x: (x + slot / 2).toFixed(1), y: HEIGHT - 8, "text-anchor": "middle" },
        row.month,
      ),
    );
  });
  const last = rows[rows.length - 1];
  const peak = Math.max(...rows.map((row) => row.mrr));
  const id = `mrr-summary-${currency}`;
  return h(
    "figure",
    { class: "chart-figure", dataset: { currency } },
    svg(
      "svg",
      {
        class: "chart",
        viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
        role: "img",
        "aria-labelledby": id,
      },
      parts,
    ),
    h(
      "p",
      { class: "chart-summary", id },
      `MRR in ${currency.toUpperCase()} at each month's end, ${rows[0].month} to ${last.month}: ` +
        `now ${formatMoney(last.mrr, currency)}, peak ${formatMoney(peak, currency)}.`,
    ),
  );
}

function movementTable(rows) {
  const body = h(
    "tbody",
    null,
    rows.map((row) =>
      h(
        "tr",
        { dataset: { month: row.month, currency: row.currency } },
        h("th", { scope: "row" }, row.month),
        h("td", null, row.currency.toUpperCase()),
        ["mrr", ...MOVEMENTS].map((field) =>
          h(
            "td",
            { class: "num", dataset: { field, value: String(row[field]) } },
            formatMoney(row[field], row.currency),
          ),
        ),
        h(
          "td",
          { class: "num", dataset: { field: "subscribers", value: String(row.subscribers) } },
          formatCount(row.subscribers),
        ),
        ["logo_churn", "revenue_churn"].map((field) =>
          h("td", { class: "num", dataset: { field } }, formatRate(row[field])),
        ),
      ),
    ),
  );
  return dataTable(
    "metrics",
    "MRR and its movements by month",
    [
      "Month",
      "Currency",
      numeric("MRR"),
      ...MOVEMENTS.map((name) => numeric(name[0].toUpperCase() + name.slice(1))),
      numeric("Subscribers"),
      numeric("Logo churn"),
      numeric("Revenue churn"),
    ],
    body,
  );
}

/** The section's content and `load()`, which asks the service again (after a call ended). */
export function metricsPanel(id, signal) {
  const charts = h("div", { class: "metrics-charts" });
  const table = h("div", { class: "table-scroll" });
  const note = h("p", { class: "muted", role: "status" }, "Loading…");
  const element = h("div", { class: "metrics-panel" }, note, charts, table);

  async function load() {
    let answer;
    try {
      answer = await api("GET", `${pipelinePath(id)}/metrics?months=${MONTHS}`, { signal });
    } catch (error) {
      if (signal.aborted) return;
      note.textContent = `No metrics: ${error.message}`;
      charts.replaceChildren();
      table.replaceChildren();
      return;
    }
    const rows = answer.metrics;
    if (!rows.length) {
      note.textContent = "No subscriptions in the destination.";
      charts.replaceChildren();
      table.replaceChildren();
      return;
    }
    const currencies = [...new Set(rows.map((row) => row.currency))];
    note.textContent =
      `The last ${MONTHS} months, per currency (nothing converted). Movements compare each ` +
      "customer's MRR with the month before.";
    charts.replaceChildren(
      ...currencies.map((currency) =>
        mrrChart(
          currency,
          rows.filter((row) => row.currency === currency),
        ),
      ),
    );
    table.replaceChildren(movementTable(rows));
  }

  return { element, load };
}
