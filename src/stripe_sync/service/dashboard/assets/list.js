// The pipeline list: one row per pipeline from `GET /pipelines`, with the latest call of each
// (`GET /pipelines/{id}/runs?limit=1`) for "last sync"; refreshed every few seconds.

import { api, pipelinePath } from "./api.js";
import {
  badge,
  dataTable,
  formatCount,
  formatRate,
  formatSince,
  h,
  numeric,
  pause,
  takeFlash,
  timeAgo,
} from "./dom.js";

const REFRESH_MS = 3000;

/** Which Stripe account a pipeline reads, from its source config (the key itself is secret). */
export function accountOf(source) {
  const config = source.config ?? {};
  let account = "own account";
  if (config.account) account = config.account;
  else if (Array.isArray(config.accounts)) account = config.accounts.join(", ");
  else if (config.accounts === "all") account = "all connected accounts";
  return `${source.type} · ${account}`;
}

/** Where a pipeline writes: its type and schema (the URL is a secret). */
export function destinationOf(destination) {
  const schema = destination.config?.schema;
  return schema ? `${destination.type} · schema ${schema}` : destination.type;
}

/** Failed streams, the call's global error and the parking reason, in one short text. */
export function errorsOf(pipeline) {
  const parts = [];
  if (pipeline.status === "no_worker") {
    parts.push(`no worker has answered for ${formatSince(pipeline.no_worker_since)}`);
  }
  if (pipeline.reason) parts.push(pipeline.reason);
  const lastError = pipeline.last_error;
  if (lastError && !(pipeline.reason ?? "").includes(lastError.message)) {
    parts.push(`${lastError.failure_type}: ${lastError.message}`);
  }
  const streams = pipeline.progress?.streams ?? {};
  const failed = Object.keys(streams).filter((name) => streams[name].status === "failed");
  if (failed.length) {
    parts.push(
      `${failed.length} failed stream${failed.length > 1 ? "s" : ""}: ${failed.join(", ")}`,
    );
  }
  return parts;
}

function lastSync(run, pipeline) {
  if (!run) return "never";
  if (!run.ended_at && pipeline.status === "no_worker") return `${run.mode} call stalled`;
  if (!run.ended_at) return `now: ${run.mode} call running`;
  return h("span", null, timeAgo(run.ended_at), ` · ${run.mode} ${run.reason ?? ""}`.trimEnd());
}

function row(pipeline, run) {
  const progress = pipeline.progress ?? {};
  const running = run && !run.ended_at && pipeline.status !== "no_worker";
  const errors = errorsOf(pipeline);
  return h(
    "tr",
    { dataset: { pipeline: pipeline.id } },
    h(
      "th",
      { scope: "row" },
      h("a", { href: `#/pipelines/${encodeURIComponent(pipeline.id)}` }, pipeline.name),
      h("div", { class: "muted small" }, pipeline.id),
    ),
    h("td", { class: "col-status" }, badge(pipeline.status)),
    h("td", null, accountOf(pipeline.source)),
    h("td", null, destinationOf(pipeline.destination)),
    h("td", null, lastSync(run, pipeline)),
    h(
      "td",
      { class: "num" },
      formatCount(progress.lifetime?.record_count ?? progress.record_count),
    ),
    h("td", { class: "num" }, running ? formatRate(progress.window_records_per_second ?? 0) : "–"),
    h(
      "td",
      { class: errors.length ? "errors-cell has-errors" : "errors-cell" },
      errors.length
        ? errors.map((text) => h("div", null, h("span", { "aria-hidden": "true" }, "✕ "), text))
        : "none",
    ),
  );
}

export function renderList(main) {
  const controller = new AbortController();
  document.title = "Pipelines · stripe-sync";
  const status = h("p", { class: "loading", role: "status" }, "Loading pipelines…");
  const body = h("tbody");
  const table = dataTable(
    "pipelines",
    "Pipelines",
    [
      "Pipeline",
      "Status",
      "Account",
      "Destination",
      "Last sync",
      numeric("Records synced"),
      numeric("Records/s"),
      "Errors",
    ],
    body,
  );
  table.hidden = true;
  const flash = takeFlash();
  const notice = h("p", { class: "flash", role: "status", hidden: !flash }, flash ?? "");
  main.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", { tabindex: "-1" }, "Pipelines"),
      h("a", { href: "#/new", class: "button primary" }, "New pipeline"),
    ),
    notice,
    status,
    h("div", { class: "table-scroll" }, table),
  );

  async function refresh() {
    const { pipelines } = await api("GET", "/pipelines", { signal: controller.signal });
    pipelines.sort((a, b) => a.created_at.localeCompare(b.created_at));
    const runs = await Promise.all(
      pipelines.map((p) =>
        api("GET", `${pipelinePath(p.id)}/runs?limit=1`, { signal: controller.signal })
          .then((answer) => answer.runs[0] ?? null)
          .catch(() => null),
      ),
    );
    const focused = document.activeElement?.closest?.("tr[data-pipeline]")?.dataset.pipeline;
    body.replaceChildren(...pipelines.map((p, i) => row(p, runs[i])));
    if (focused) body.querySelector(`tr[data-pipeline="${CSS.escape(focused)}"] a`)?.focus();
    table.hidden = pipelines.length === 0;
    status.textContent = pipelines.length
      ? `${pipelines.length} pipeline${pipelines.length > 1 ? "s" : ""}`
      : "No pipeline yet. Create one to start copying a Stripe account.";
  }

  (async () => {
    while (!controller.signal.aborted) {
      try {
        await refresh();
      } catch (error) {
        if (controller.signal.aborted) return;
        status.textContent = `Cannot load the pipelines: ${error.message}`;
      }
      await pause(REFRESH_MS, controller.signal);
    }
  })();
  return () => controller.abort();
}
