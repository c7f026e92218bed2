// The sign-in page: the service's API token, checked against the service before the tab keeps it
// (in sessionStorage only).

import { signIn, tokenAccepted } from "./api.js";
import { h } from "./dom.js";

/** `notice`: why the tab was signed out, if it was; `done()` renders the page asked for. */
export function renderSignIn(main, notice, done) {
  document.title = "Sign in · stripe-sync";
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    required: true,
    autocomplete: "current-password",
    spellcheck: "false",
    "aria-describedby": "token-hint",
  });
  const problem = h(
    "p",
    { class: "form-problem", id: "signin-problem", role: "alert" },
    notice ?? "",
  );
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");

  async function check(event) {
    event.preventDefault();
    const candidate = input.value.trim();
    if (!candidate) return input.reportValidity();
    submit.disabled = true;
    problem.textContent = "";
    try {
      if (await tokenAccepted(candidate)) {
        signIn(candidate);
        done();
        return;
      }
      problem.textContent = "The service refused this token.";
      input.setAttribute("aria-invalid", "true");
      input.select();
    } catch (error) {
      problem.textContent = `Cannot reach the service: ${error.message}`;
    } finally {
      submit.disabled = false;
    }
  }

  main.append(
    h(
      "form",
      { class: "signin", onsubmit: check, "aria-labelledby": "signin-title" },
      h("h1", { id: "signin-title", tabindex: "-1" }, "Sign in"),
      h(
        "p",
        null,
        "The dashboard acts with the service's API token: the one given to ",
        h("code", null, "stripe-sync service api --api-token"),
        " (or printed by ",
        h("code", null, "service dev"),
        ").",
      ),
      h("div", { class: "field" }, h("label", { for: "token" }, "API token"), input),
      h(
        "p",
        { class: "hint", id: "token-hint" },
        "Kept in this tab only, until you sign out or close it.",
      ),
      problem,
      h("div", { class: "form-actions" }, submit),
    ),
  );
  return () => {};
}
