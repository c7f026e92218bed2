// The dashboard's entry point: routes (`#/`, `#/new`, `#/pipelines/{id}`, `#/pipelines/{id}/edit`)
// to pages, asks for the API token first, and returns to sign-in whenever the service refuses it.

import { signOut, token } from "./api.js";
import { renderCreate } from "./create.js";
import { renderDetail } from "./detail.js";
import { renderEdit } from "./edit.js";
import { renderList } from "./list.js";
import { renderSignIn } from "./signin.js";

const main = document.getElementById("main");
const navigation = document.getElementById("navigation");
const signOutButton = document.getElementById("sign-out");
let leave = null;

function show(render) {
  leave?.();
  main.replaceChildren();
  leave = render();
  main.querySelector("h1")?.focus();
}

function pageFor(hash) {
  if (hash === "#/new") return () => renderCreate(main);
  const detail = /^#\/pipelines\/([^/]+)$/.exec(hash);
  if (detail) return () => renderDetail(main, decodeURIComponent(detail[1]));
  const edit = /^#\/pipelines\/([^/]+)\/edit$/.exec(hash);
  if (edit) return () => renderEdit(main, decodeURIComponent(edit[1]));
  return () => renderList(main);
}

function route(notice = null) {
  const signedIn = Boolean(token());
  navigation.hidden = !signedIn;
  signOutButton.hidden = !signedIn;
  if (!signedIn) {
    show(() => renderSignIn(main, notice, () => route()));
    return;
  }
  const hash = location.hash || "#/";
  for (const link of navigation.querySelectorAll("a")) {
    if (link.getAttribute("href") === hash) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  show(pageFor(hash));
}

window.addEventListener("hashchange", () => route());
window.addEventListener("signed-out", (event) => route(event.detail.reason));
signOutButton.addEventListener("click", () => signOut("Signed out."));
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
route();
