// "Why is this customer (or cookie) in this group?": the explanation tree from the live profile,
// routed by the API to the worker that holds it; and GDPR erasure, behind a confirmation.

import {ApiError, api, enc, get} from "./api.js";
import {announce, append, confirmDialog, h, staffId, when} from "./dom.js";

export function renderLookup(el) {
  const input = h("input", {id: "subject-id", required: true, autocomplete: "off"});
  const kind = (value, label, checked) => h("label", {class: "choice"},
    h("input", {type: "radio", name: "kind", value, checked}), ` ${label}`);
  el.append(h("h1", {}, "Find a customer or cookie"),
    h("form", {class: "lookup", onsubmit: (event) => {
      event.preventDefault();
      const prefix = new FormData(event.target).get("kind");
      location.hash = `#/subjects/${enc(`${prefix}:${input.value.trim()}`)}`;
    }},
    h("fieldset", {}, h("legend", {}, "Who"), kind("c", "Customer ID", true), kind("v", "Cookie (visitor) ID", false)),
    h("p", {}, h("label", {for: "subject-id"}, "ID"), input, " ", h("button", {type: "submit"}, "Explain"))));
  input.focus();
}

function tree(node) {
  const mark = node.holds ? "✔" : "✘";
  return h("li", {class: node.holds ? "holds" : "fails"},
    h("span", {class: "mark", "aria-hidden": "true"}, mark), " ",
    h("span", {class: "visually-hidden"}, node.holds ? "met: " : "not met: "), node.text,
    node.children.length ? h("ul", {}, node.children.map(tree)) : null);
}

function outcome(subjectLabel, g, open) {
  const verdict = g.matched ? "is in" : "is not in";
  return h("details", {class: `outcome ${g.matched ? "member" : "not-member"}`, open, dataset: {group: g.group_id}},
    h("summary", {}, h("span", {class: "mark", "aria-hidden": "true"}, g.matched ? "✔" : "✘"), " ",
      `${subjectLabel} ${verdict} `, h("strong", {}, g.name), ` (${g.type}, group ${g.group_id})`),
    h("ul", {class: "explanation"}, tree(g.explanation)),
    g.next_change ? h("p", {class: "help"}, `With no new event this can change by itself on ${when(g.next_change)}.`) : null);
}

export async function renderSubject(el, subject, focus) {
  const customer = subject.startsWith("c:");
  const raw = subject.slice(2);
  const label = customer ? `Customer ${raw}` : `Cookie ${raw}`;
  el.append(h("p", {class: "crumbs"}, h("a", {href: "#/"}, "Customer Groups"), " › ",
    focus ? [h("a", {href: `#/groups/${enc(focus)}`}, `group ${focus}`), " › "] : null, label),
  h("h1", {}, label));
  let answer;
  try {
    answer = await get(`/api/subjects/${enc(subject)}/explain`);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    el.append(h("p", {class: "error", role: "alert"}, error.line),
      h("p", {}, h("a", {href: "#/subjects"}, "Look up someone else")));
    return null;
  }
  const groups = answer.groups;
  const chosen = groups.find((g) => g.group_id === focus);
  const rest = groups.filter((g) => g !== chosen);
  append(el, [
    h("p", {class: "help"}, `Evaluated from the live profile at ${when(answer.evaluated_at)}. `,
      customer ? "" : "An anonymous cookie: it is treated as in its groups when it comes back, even logged out."),
    chosen ? [h("h2", {}, `Why ${label} ${chosen.matched ? "is" : "is not"} in ${chosen.name}`), outcome(label, chosen, true)] : null,
    h("h2", {}, chosen ? "All other groups" : "Groups"),
    h("p", {}, `In ${rest.filter((g) => g.matched).length} of these ${rest.length} groups.`),
    rest.filter((g) => g.matched).map((g) => outcome(label, g, !chosen)),
    rest.filter((g) => !g.matched).map((g) => outcome(label, g, false)),
    customer ? erasure(raw) : null,
  ]);
  return null;
}

function erasure(customer) {
  const start = async () => {
    const typed = h("input", {id: "erase-confirm", autocomplete: "off", required: true});
    const staff = h("input", {id: "erase-staff", autocomplete: "off", required: true, value: staffId()});
    const ok = await confirmDialog(`Erase customer ${customer}?`, [
      h("p", {}, "Their profile, group memberships, details and consent records are removed from the pipeline ",
        "and Redis. This cannot be undone."),
      h("p", {}, h("label", {for: "erase-confirm"}, `Type ${customer} to confirm`), typed),
      h("p", {}, h("label", {for: "erase-staff"}, "Your staff ID (recorded as who asked)"), staff),
    ], "Erase customer");
    if (!ok) return;
    if (typed.value.trim() !== customer || !staff.value.trim()) {
      announce("Not erased: type the customer ID exactly, and your staff ID.", "error");
      return;
    }
    staffId(staff.value.trim());
    try {
      const r = await api("POST", `/api/customers/${enc(customer)}/erase`, {requested_by: staffId()});
      announce(`Erasure of ${customer} requested (event ${r.event_id}); the pipeline forgets them in a moment.`, "ok");
    } catch (error) {
      announce(error instanceof ApiError ? error.line : String(error), "error");
    }
  };
  return h("section", {class: "erasure", "aria-labelledby": "erase-heading"},
    h("h2", {id: "erase-heading"}, "GDPR erasure"),
    h("p", {}, "Remove everything the pipeline holds about this customer, when they ask to be forgotten."),
    h("button", {type: "button", class: "danger", id: "erase", onclick: start}, "Erase this customer…"));
}
