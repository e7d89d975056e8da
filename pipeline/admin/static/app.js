// The page's router: one HTML shell, views chosen by the URL's #fragment, so every view has a link
// (and the browser's back button works) while the token never appears in a URL.

import {ApiError, token, unauthorised} from "./api.js";
import {announce, clear, h, takeFlash} from "./dom.js";
import {renderEditor} from "./editor.js";
import {renderGroup, renderGroups} from "./groups.js";
import {renderLookup, renderSubject} from "./subject.js";

const main = () => document.getElementById("main");
let cleanup = null;  // what the current view must stop (a refresh timer) when the view changes

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return {parts, query: new URLSearchParams(query)};
}

function view({parts, query}) {
  const [first, second, third] = parts;
  if (!first) return (el) => renderGroups(el);
  if (first === "groups" && second === "new") return (el) => renderEditor(el, null);
  if (first === "groups" && second && third === "edit") return (el) => renderEditor(el, second);
  if (first === "groups" && second) return (el) => renderGroup(el, second);
  if (first === "subjects" && second) return (el) => renderSubject(el, second, query.get("group"));
  if (first === "subjects") return (el) => renderLookup(el);
  return (el) => el.append(h("h1", {}, "Not found"), h("p", {}, h("a", {href: "#/"}, "Back to the groups")));
}

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const el = clear(main());
  const message = takeFlash();
  announce(message.text, message.kind);
  try {
    cleanup = (await view(parseHash())(el)) || null;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;  // the sign-in form is shown
    el.append(h("h1", {}, "Something went wrong"),
      h("p", {class: "error", role: "alert"}, error instanceof ApiError ? error.line : String(error)));
  }
  const heading = el.querySelector("h1");
  if (heading) document.title = `${heading.textContent} · Customer Groups`;
}

function renderSession() {
  const session = clear(document.getElementById("session"));
  if (token.get()) {
    session.append(h("button", {type: "button", class: "link", onclick: () => {
      token.clear();
      renderSession();
      route();
    }}, "Sign out"));
  }
}

function signIn(reason) {
  if (cleanup) cleanup();
  cleanup = null;
  const el = clear(main());
  const input = h("input", {id: "token", name: "token", type: "password", required: true,
    autocomplete: "off", "aria-describedby": "token-help"});
  const form = h("form", {class: "sign-in", onsubmit: (event) => {
    event.preventDefault();
    token.set(input.value.trim());
    renderSession();
    route();
  }},
  h("h1", {}, "Sign in"),
  reason ? h("p", {class: "error", role: "alert"}, reason) : null,
  h("p", {}, h("label", {for: "token"}, "Admin token"), input),
  h("p", {id: "token-help", class: "help"},
    "The worker's CG_ADMIN_TOKEN. It is kept in this browser tab only, and forgotten when the tab closes."),
  h("p", {}, h("button", {type: "submit"}, "Sign in")));
  el.append(form);
  document.title = "Sign in · Customer Groups";
  input.focus();
}

unauthorised.addEventListener("401", () => {
  const had = token.get();
  token.clear();
  renderSession();
  signIn(had ? "That token was refused: check it and try again." : null);
});

window.addEventListener("hashchange", () => {
  route();
  main().focus();
});
renderSession();
route();
