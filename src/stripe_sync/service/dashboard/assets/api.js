// The service API as the page uses it: the tab's bearer token, JSON calls, the progress stream.
//
// The token lives in sessionStorage only: it is gone when the tab closes and never reaches a URL.
// A 401 from any call signs the tab out (the page then asks for the token again).

import { pause } from "./dom.js";

const TOKEN_KEY = "stripe-sync.token";
const RECONNECT_MS = 2000;

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signIn(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

/** Forget the token; `reason` is shown on the sign-in page. */
export function signOut(reason = null) {
  sessionStorage.removeItem(TOKEN_KEY);
  window.dispatchEvent(new CustomEvent("signed-out", { detail: { reason } }));
}

/** An answer other than 2xx, with the service's message (`{"error": {failure_type, message}}`). */
export class ApiError extends Error {
  constructor(status, body) {
    const error = body && typeof body === "object" ? body.error : null;
    super(error?.message ?? `the service answered HTTP ${status}`);
    this.status = status;
    this.failureType = error?.failure_type ?? null;
  }
}

function authorization(bearer) {
  return { Authorization: `Bearer ${bearer}` };
}

async function call(method, path, { body, signal, bearer, headers: extra }) {
  const headers = { ...authorization(bearer), ...extra };
  const init = { method, headers, signal, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Call the API with the tab's token; resolves to the JSON answer, rejects with ApiError. */
export async function api(method, path, options = {}) {
  try {
    return await call(method, path, { ...options, bearer: token() });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut("The service refused the token; sign in again.");
    }
    throw error;
  }
}

/** Whether the service accepts `candidate` (used by the sign-in form before it keeps it). Asks a
 * route that needs nothing but the store's code, so signing in stays quick while no worker
 * answers (listing pipelines then waits for their status queries). */
export async function tokenAccepted(candidate) {
  try {
    await call("GET", "/connectors", { bearer: candidate });
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return false;
    throw error;
  }
}

export const pipelinePath = (id) => `/pipelines/${encodeURIComponent(id)}`;

function parseEvent(block) {
  const event = { type: "message", data: [] };
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // a comment: keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    if (field === "data") event.data.push(value);
  }
  return { type: event.type, data: event.data.join("\n") };
}

/**
 * Follow `GET /pipelines/{id}/progress` (server-sent events) until `signal` aborts or the
 * pipeline is deleted. EventSource cannot send a bearer token, so this reads the stream with
 * fetch; it reconnects after a dropped connection. `onProgress({id, status, reason, view})`,
 * `onDeleted()`, `onTrouble(error | null)` (null: connected again).
 */
export async function followProgress(id, { onProgress, onDeleted, onTrouble, signal }) {
  while (!signal.aborted) {
    try {
      const response = await fetch(`${pipelinePath(id)}/progress`, {
        headers: authorization(token()),
        signal,
        cache: "no-store",
      });
      if (response.status === 401) {
        signOut("The service refused the token; sign in again.");
        return;
      }
      if (response.status === 404) {
        onDeleted();
        return;
      }
      if (!response.ok) throw new ApiError(response.status, null);
      onTrouble(null);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replaceAll("\r\n", "\n");
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const event = parseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event.type === "progress") onProgress(JSON.parse(event.data));
          if (event.type === "deleted") {
            onDeleted();
            return;
          }
          end = buffer.indexOf("\n\n");
        }
      }
      throw new Error("the progress stream ended");
    } catch (error) {
      if (signal.aborted) return;
      onTrouble(error);
    }
    await pause(RECONNECT_MS, signal);
  }
}
