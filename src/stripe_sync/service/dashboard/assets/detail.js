// The detail page of one pipeline: live progress from `GET /pipelines/{id}/progress` (the CLI's
// display model: figures, stream rows with coverage, ETA; with connected accounts, account rows
// with their running and failed streams under them), a throughput chart, the subscription
// metrics read from the destination (`metrics.js`; reloaded when the status changes), errors with
// their hints, recent runs, and the edit, pause/resume, sync and delete buttons. While no worker
// answers it says so and for how long; the figures are then the last a worker saved. A live
// call's figures are its own (not its run's, which include the backfill).

import { api, followProgress, pipelinePath } from "./api.js";
import { throughputChart } from "./chart.js";
import {
  announce,
  badge,
  dataTable,
  formatCount,
  formatDuration,
  formatPercent,
  formatRate,
  formatSince,
  h,
  numeric,
  pause,
  setFlash,
  takeFlash,
  timeAgo,
} from "./dom.js";
import { accountOf, destinationOf } from "./list.js";
import { metricsPanel } from "./metrics.js";

const REFRESH_MS = 5000;
const CHART_TICK_MS = 2000;
const RUNS_SHOWN = 10;

function section(id, title, ...content) {
  return h(
    "section",
    { class: "panel", "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title),
    ...content,
  );
}

function figure(label, value, key) {
  return h(
    "div",
    { class: "figure", dataset: { figure: key } },
    h("dt", null, label),
    h("dd", null, value),
  );
}

/** A stream's coverage as the CLI draws it: unknown counts as 0, or whole once complete. */
function coverageOf(row) {
  if (row.coverage !== null && row.coverage !== undefined) return row.coverage;
  return row.status === "complete" ? 1 : 0;
}

function coverageBar(row) {
  const fraction = coverageOf(row);
  const percent = Math.floor(fraction * 1000) / 10;
  const fill = h("span", { class: "bar-fill" });
  fill.style.width = `${percent}%`;
  return h(
    "div",
    { class: "coverage" },
    h(
      "span",
      {
        class: `bar bar-${row.status}`,
        role: "progressbar",
        "aria-label": `${row.name} coverage`,
        "aria-valuemin": 0,
        "aria-valuemax": 100,
        "aria-valuenow": percent,
      },
      fill,
    ),
    h("span", { class: "bar-text" }, formatPercent(fraction)),
  );
}

function figures(view) {
  const writes = view.writes ?? {};
  const scope = view.mode === "live" ? "this live call" : "this run";
  const items = [
    figure("Mode", view.mode ?? "–", "mode"),
    figure(`Records ${scope}`, formatCount(view.record_count), "record_count"),
    figure("Records all time", formatCount(view.lifetime_records), "lifetime_records"),
    figure("Requests", formatCount(view.request_count), "request_count"),
    figure("Elapsed", formatDuration(view.elapsed_s), "elapsed"),
    figure(
      `Average records/s, ${scope}`,
      formatRate(view.records_per_second),
      "records_per_second",
    ),
    figure(
      "Current records/s",
      formatRate(view.window_records_per_second),
      "window_records_per_second",
    ),
    figure("ETA", formatDuration(view.eta_seconds), "eta"),
    figure(
      "Writes",
      `${formatCount(writes.inserted ?? 0)} inserted, ${formatCount(writes.updated ?? 0)} updated, ` +
        `${formatCount(writes.unchanged ?? 0)} unchanged, ${formatCount(writes.deleted ?? 0)} deleted`,
      "writes",
    ),
    figure(
      "Retries · rate limited",
      `${formatCount(view.retry_count)} · ${formatCount(view.rate_limited_count)}`,
      "retries",
    ),
  ];
  if (view.outcome) {
    const more = view.has_more ? " (more to do)" : "";
    items.push(figure("Last call ended", `${view.outcome}${more}`, "outcome"));
  }
  if (view.live) {
    const live = view.live;
    items.push(
      figure("Live events/s", formatRate(live.events_per_second), "events_per_second"),
      figure("Events applied", formatCount(live.event_count), "event_count"),
      figure("Lag", live.lag_seconds === null ? "–" : formatDuration(live.lag_seconds), "lag"),
      figure("Last event", live.last_event_at ?? "–", "last_event"),
    );
    if (live.webhooks_rejected) {
      items.push(
        figure("Webhooks rejected", formatCount(live.webhooks_rejected), "webhooks_rejected"),
      );
    }
  }
  return h("dl", { class: "figures" }, items);
}

const STREAM_COLUMNS = [
  "Stream",
  "Status",
  "Coverage",
  numeric("Records"),
  numeric("Requests"),
  numeric("Records/s"),
  numeric("ETA"),
  "Note",
];

/** A stream's row; under an account (`account` given) it is indented and keyed by both. */
function streamRow(row, account = null) {
  const key = account ? `${account}/${row.name}` : row.name;
  return h(
    "tr",
    { class: account ? "sub-row" : null, dataset: { stream: key } },
    h("th", { scope: "row" }, row.name),
    h("td", { class: "col-status" }, badge(row.status)),
    h("td", null, coverageBar({ ...row, name: key })),
    h("td", { class: "num", dataset: { field: "record_count" } }, formatCount(row.record_count)),
    h("td", { class: "num", dataset: { field: "request_count" } }, formatCount(row.request_count)),
    h("td", { class: "num" }, formatRate(row.records_per_second)),
    h("td", { class: "num" }, row.status === "started" ? formatDuration(row.eta_seconds) : ""),
    h("td", null, row.reason ?? ""),
  );
}

/** A connected account's row: its totals, streams done, and its failure once it failed. */
function accountRow(account) {
  const failure = account.status === "failed" ? account.last_error : null;
  return h(
    "tr",
    { class: "account-row", dataset: { account: account.account } },
    h("th", { scope: "row" }, account.account),
    h("td", { class: "col-status" }, badge(account.status)),
    h("td", null, coverageBar({ ...account, name: account.account })),
    h(
      "td",
      { class: "num", dataset: { field: "record_count" } },
      formatCount(account.record_count),
    ),
    h(
      "td",
      { class: "num", dataset: { field: "request_count" } },
      formatCount(account.request_count),
    ),
    h("td", { class: "num" }, formatRate(account.records_per_second)),
    h(
      "td",
      { class: "num", dataset: { field: "streams_done" } },
      `${account.streams_done}/${account.streams_total}`,
    ),
    h("td", null, failure ? `${failure.level} ${failure.failure_type}` : ""),
  );
}

function collapsedRows(collapsed, noun) {
  return Object.entries(collapsed ?? {}).map(([status, count]) =>
    h("tr", null, h("td", { colspan: 8, class: "muted" }, `${count} more ${status}${noun}`)),
  );
}

/** Stream rows; with connected accounts, account rows with their running and failed streams. */
function streamTable(view) {
  const accounts = view.accounts ?? [];
  const columns = accounts.length
    ? ["Account / stream", ...STREAM_COLUMNS.slice(1, 6), numeric("Streams done · ETA"), "Note"]
    : STREAM_COLUMNS;
  return dataTable(
    "streams",
    accounts.length ? "Accounts and their streams of the current run" : "Streams of the current run",
    columns,
    h(
      "tbody",
      null,
      accounts.map((account) => [
        accountRow(account),
        account.streams.map((row) => streamRow(row, account.account)),
        account.more_streams
          ? h(
              "tr",
              { class: "sub-row" },
              h("td", { colspan: 8, class: "muted" }, `${account.more_streams} more running`),
            )
          : null,
      ]),
      collapsedRows(view.collapsed_accounts, " accounts"),
      view.rows.map((row) => streamRow(row)),
      collapsedRows(view.collapsed, ""),
    ),
  );
}

/** Every error worth showing once: the stream errors of the view, the call's and the pipeline's. */
function collectErrors(pipeline, view) {
  const found = [];
  const seen = new Set();
  const add = (error) => {
    const key = [error.level, error.failure_type, error.account, error.stream, error.message];
    if (seen.has(key.join("|"))) return;
    seen.add(key.join("|"));
    found.push(error);
  };
  for (const error of [view?.error, pipeline?.last_error]) {
    if (error) add({ level: "global", ...error });
  }
  if (pipeline?.reason) {
    const [type, ...rest] = pipeline.reason.split(": ");
    add({
      level: "global",
      failure_type: rest.length ? type : "error",
      message: rest.join(": ") || type,
      hint: pipeline.hint,
      parked: true,
    });
  }
  for (const row of view?.rows ?? []) {
    for (const error of row.errors ?? []) add({ stream: row.name, ...error });
  }
  for (const account of view?.accounts ?? []) {
    if (account.last_error) add({ account: account.account, ...account.last_error });
    for (const row of account.streams) {
      for (const error of row.errors ?? []) add({ stream: row.name, ...error });
    }
  }
  return found;
}

function errorTable(errors, retryAt) {
  if (errors.length === 0) return h("p", { class: "muted" }, "No errors.");
  return h(
    "div",
    null,
    retryAt
      ? h("p", null, `Failed streams are retried at ${new Date(retryAt).toLocaleString()}.`)
      : null,
    dataTable(
      "errors",
      "Errors",
      ["Level", "Type", "Stream", "Message", "Hint"],
      h(
        "tbody",
        null,
        errors.map((error) =>
          h(
            "tr",
            { dataset: { level: error.level } },
            h("td", null, badge(error.level)),
            h("td", null, h("code", null, error.failure_type ?? "–")),
            h("td", null, [error.account, error.stream].filter(Boolean).join("/") || "–"),
            h("td", null, error.message ?? ""),
            h(
              "td",
              { class: "hint-cell" },
              error.hint ??
                (error.parked ? "fix the cause (edit the pipeline), then Resume" : "–"),
            ),
          ),
        ),
      ),
    ),
  );
}

/** A call's outcome: how it ended, `lost` when its worker died, stalled while none answers. */
function outcomeOf(run, status) {
  if (run.reason === "lost") return "lost (its worker stopped; retried)";
  if (run.ended_at) return `${run.reason}${run.has_more ? " (more to do)" : ""}`;
  return status === "no_worker" ? "stalled: no worker" : "running";
}

function runTable(runs, status) {
  if (runs.length === 0) return h("p", { class: "muted" }, "No call yet.");
  return dataTable(
    "runs",
    "Recent calls, newest first",
    [
      "Started",
      "Mode",
      "Duration",
      "Outcome",
      numeric("Records"),
      numeric("Requests"),
      numeric("Events"),
      "Failed streams",
      "Error",
    ],
    h(
      "tbody",
      null,
      runs.map((run) => {
        const ended = run.ended_at ? Date.parse(run.ended_at) : Date.now();
        const duration = (ended - Date.parse(run.started_at)) / 1000;
        const outcome = outcomeOf(run, status);
        return h(
          "tr",
          { dataset: { outcome: run.reason ?? "running" } },
          h("td", null, timeAgo(run.started_at)),
          h("td", null, run.mode),
          h("td", null, formatDuration(duration)),
          h("td", null, outcome),
          h("td", { class: "num" }, formatCount(run.record_count)),
          h("td", { class: "num" }, formatCount(run.request_count)),
          h("td", { class: "num" }, formatCount(run.event_count)),
          h("td", null, (run.failed_streams ?? []).join(", ") || "–"),
          h("td", null, run.error ? `${run.error.failure_type}: ${run.error.message}` : "–"),
        );
      }),
    ),
  );
}

export function renderDetail(main, id) {
  const controller = new AbortController();
  const { signal } = controller;
  let pipeline = null;
  let status = null;
  let view = null;
  let lastSampleAt = 0;

  const title = h("h1", { tabindex: "-1" }, id);
  const statusHolder = h("span", { class: "status-holder" });
  const meta = h("p", { class: "meta" });
  const reason = h("p", { class: "reason", role: "alert" });
  const noWorker = h("p", { class: "no-worker", role: "status", hidden: true });
  const flash = takeFlash();
  const notice = h("p", { class: "flash", role: "status", hidden: !flash }, flash ?? "");
  const connection = h(
    "p",
    { class: "connection muted small", role: "status" },
    "Connecting to the progress stream…",
  );
  const chart = throughputChart();
  const metrics = metricsPanel(id, signal);
  let metricsStatus = null;
  const figuresHolder = h(
    "div",
    null,
    h("p", { class: "muted" }, "No call has reported progress yet."),
  );
  const streamsHolder = h("div", { class: "table-scroll" });
  const errorsHolder = h("div", { class: "table-scroll" });
  const runsHolder = h("div", { class: "table-scroll" }, h("p", { class: "muted" }, "Loading…"));

  const editLink = h(
    "a",
    { href: `#/pipelines/${encodeURIComponent(id)}/edit`, class: "button", id: "edit" },
    "Edit",
  );
  const toggle = h("button", { type: "button", id: "toggle-pause" }, "Pause");
  const syncNow = h("button", { type: "button", id: "sync-now" }, "Sync now");
  const remove = h("button", { type: "button", id: "delete", class: "danger" }, "Delete");
  const actions = h(
    "div",
    { class: "actions", role: "group", "aria-label": "Pipeline actions" },
    editLink,
    toggle,
    syncNow,
    remove,
  );

  main.append(
    h(
      "nav",
      { class: "breadcrumb", "aria-label": "Breadcrumb" },
      h("a", { href: "#/" }, "Pipelines"),
      " / ",
      h("span", { "aria-current": "page" }, id),
    ),
    h(
      "div",
      { class: "page-head" },
      h("div", { class: "title-line" }, title, statusHolder),
      actions,
    ),
    meta,
    notice,
    reason,
    noWorker,
    connection,
    section("progress", "Progress", figuresHolder),
    section("throughput", "Throughput", chart.element),
    section("metrics", "Subscription metrics", metrics.element),
    section("streams", "Streams", streamsHolder),
    section("errors", "Errors", errorsHolder),
    section("runs", "Recent runs", runsHolder),
  );
  document.title = `${id} · stripe-sync`;

  function paused() {
    return pipeline?.desired_status === "paused" || status === "error";
  }

  function showStatus() {
    statusHolder.replaceChildren(badge(status ?? pipeline?.status ?? "setup"));
    toggle.textContent = paused() ? "Resume" : "Pause";
    const shownReason = pipeline?.reason;
    reason.hidden = !shownReason;
    reason.textContent = shownReason ? `Parked: ${shownReason}` : "";
    showNoWorker();
  }

  function showNoWorker() {
    const since = status === "no_worker" ? pipeline?.no_worker_since : null;
    noWorker.hidden = !since;
    noWorker.textContent = since
      ? `No worker has answered for ${formatSince(since)} (since ` +
        `${new Date(since).toLocaleTimeString()}): nothing runs until one starts; the figures ` +
        "are the last a worker saved."
      : "";
  }

  function showPipeline() {
    title.textContent = pipeline.name;
    document.title = `${pipeline.name} · stripe-sync`;
    const streams = pipeline.streams?.length ? pipeline.streams.join(", ") : "every stream";
    meta.replaceChildren(
      h("span", null, h("code", null, pipeline.id)),
      " · ",
      accountOf(pipeline.source),
      " → ",
      destinationOf(pipeline.destination),
      " · streams: ",
      streams,
      " · created ",
      timeAgo(pipeline.created_at),
    );
    showStatus();
    errorsHolder.replaceChildren(
      errorTable(collectErrors(pipeline, view), pipeline.stream_retry_at),
    );
  }

  function showView() {
    if (!view) return;
    figuresHolder.replaceChildren(figures(view));
    streamsHolder.replaceChildren(streamTable(view));
    errorsHolder.replaceChildren(
      errorTable(collectErrors(pipeline, view), pipeline?.stream_retry_at),
    );
  }

  async function loadPipeline() {
    pipeline = await api("GET", pipelinePath(id), { signal });
    status = pipeline.status;
    showPipeline();
  }

  async function loadRuns() {
    const answer = await api("GET", `${pipelinePath(id)}/runs?limit=${RUNS_SHOWN}`, { signal });
    runsHolder.replaceChildren(runTable(answer.runs, status));
  }

  function gone() {
    setFlash(`Pipeline ${pipeline?.name ?? id} was deleted.`);
    location.hash = "#/";
  }

  async function act(button, path, method, done) {
    for (const b of [toggle, syncNow, remove]) b.disabled = true;
    try {
      const answer = await api(method, path, { signal });
      pipeline = answer;
      status = answer.status;
      showPipeline();
      announce(done);
      loadRuns().catch(() => {});
    } catch (error) {
      if (signal.aborted) return;
      if (error.status === 404) return gone();
      reason.hidden = false;
      reason.textContent = `${button.textContent} failed: ${error.message}`;
    } finally {
      for (const b of [toggle, syncNow, remove]) b.disabled = false;
    }
  }

  toggle.addEventListener("click", () =>
    paused()
      ? act(toggle, `${pipelinePath(id)}/resume`, "POST", "Resume requested.")
      : act(toggle, `${pipelinePath(id)}/pause`, "POST", "Pause requested."),
  );
  syncNow.addEventListener("click", () =>
    act(syncNow, `${pipelinePath(id)}/sync`, "POST", "A new run was requested."),
  );
  remove.addEventListener("click", () => {
    const name = pipeline?.name ?? id;
    if (!window.confirm(`Delete pipeline ${name}? Its tables in the destination are dropped.`))
      return;
    act(remove, pipelinePath(id), "DELETE", "Deleting the pipeline…");
  });

  followProgress(id, {
    signal,
    onProgress(event) {
      status = event.status;
      if (pipeline) {
        pipeline.reason = event.reason;
        pipeline.hint = event.hint;
        pipeline.no_worker_since = event.no_worker_since;
      }
      view = event.view;
      if (metricsStatus !== null && metricsStatus !== event.status) metrics.load();
      metricsStatus = event.status;
      showStatus();
      showView();
      if (view) {
        chart.add(view.window_records_per_second ?? 0);
        lastSampleAt = Date.now();
      }
    },
    onDeleted: gone,
    onTrouble(error) {
      connection.textContent = error
        ? `Progress stream interrupted (${error.message}); reconnecting…`
        : "Following live progress.";
    },
  });

  metrics.load();
  (async () => {
    while (!signal.aborted) {
      try {
        await loadPipeline();
        await loadRuns(); // after the status: a call in flight shows as stalled without a worker
      } catch (error) {
        if (signal.aborted) return;
        if (error.status === 404) return gone();
        connection.textContent = `Cannot load the pipeline: ${error.message}`;
      }
      await pause(REFRESH_MS, signal);
    }
  })();

  const ticker = window.setInterval(() => {
    showNoWorker();
    if (view && Date.now() - lastSampleAt >= CHART_TICK_MS) {
      chart.add(view.window_records_per_second ?? 0);
      lastSampleAt = Date.now();
    }
  }, CHART_TICK_MS);

  return () => {
    controller.abort();
    window.clearInterval(ticker);
  };
}
