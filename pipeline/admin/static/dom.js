// Building the page with DOM calls only: text is always set as text, never parsed as HTML,
// so a customer's name or a group's description can never become markup or script.

/** h("a", {href: "#/"}, "Groups") -> <a href="#/">Groups</a>; children may be strings, nodes or arrays. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const numbers = new Intl.NumberFormat("en-GB");
export const fmt = (n) => numbers.format(n);

export function plural(n, one, many) {
  return `${fmt(n)} ${n === 1 ? one : many}`;
}

/** A short message for screen readers and eyes alike, in the page's live status region. */
export function announce(text, kind = "info") {
  const status = document.getElementById("status");
  clear(status);
  status.className = `status ${kind}`;
  if (text) status.append(text);
}

let pending = null;

/** A message for the next view: shown after a save or delete has moved the page on. */
export function flash(text, kind = "ok") {
  pending = {text, kind};
}

export function takeFlash() {
  const message = pending;
  pending = null;
  return message || {text: "", kind: "info"};
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString("en-GB", {dateStyle: "medium", timeStyle: "short"});
}

/** Ask before something that cannot be undone; resolves true on confirmation. */
export function confirmDialog(title, body, okLabel) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  append(clear(document.getElementById("confirm-body")), [body]);
  document.getElementById("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), {once: true});
    dialog.showModal();
  });
}

/** Remembered for this tab only: who is making changes (recorded in staff events). */
export function staffId(value) {
  if (value !== undefined) sessionStorage.setItem("cg-staff-id", value);
  return sessionStorage.getItem("cg-staff-id") || "";
}
