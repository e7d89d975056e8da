// The groups table (the seed's first screen) and one group's page: definition, counts,
// a paged member list, the CSV download, and staff adding or removing customers of private groups.

import {ApiError, api, download, enc, get} from "./api.js";
import {announce, append, clear, confirmDialog, flash, fmt, h, plural, staffId, when} from "./dom.js";
import {describeRules} from "./rows.js";

const TYPES = {
  public: "Shown to customers, who opt in themselves (registration form, account page).",
  private: "Never shown to customers; staff add them in the CMS or at the till.",
  dynamic: "Filled automatically by its rules, with customers and anonymous visitors.",
};
const REFRESH_MS = 3000;
const PAGE_SIZE = 50;

function guests(n) {
  return n ? h("span", {class: "guests"}, `*Also includes ${plural(n, "anonymous guest user", "anonymous guest users")}`) : null;
}

export async function renderGroups(el) {
  const {groups} = await get("/api/groups");
  const rows = groups.map((g) => h("tr", {},
    h("td", {class: "num"}, g.id),
    h("th", {scope: "row"}, h("a", {href: `#/groups/${enc(g.id)}`}, g.name)),
    h("td", {}, h("span", {class: `type ${g.type}`}, g.type)),
    h("td", {class: "num members"}, fmt(g.members)),
    h("td", {class: "guests-cell"}, g.anonymous_guests ? fmt(g.anonymous_guests) : "–"),
    h("td", {class: "description"}, g.description || ""),
    h("td", {class: "actions"},
      h("a", {href: `#/groups/${enc(g.id)}/edit`, "aria-label": `Edit ${g.name}`}, "Edit"), " ",
      h("button", {type: "button", class: "link", "aria-label": `Download the members of ${g.name} as CSV`,
        onclick: () => downloadCsv(g)}, "Download"))));
  append(el, [
    h("h1", {}, "Customer Groups"),
    h("p", {}, "Use this page to manage, view and export Customer Groups."),
    h("p", {class: "toolbar"}, `Displaying ${plural(groups.length, "group", "groups")}`, " ",
      h("a", {href: "#/groups/new", class: "button"}, "+ add a customer group")),
    h("table", {class: "groups"},
      h("caption", {class: "visually-hidden"}, "Customer groups with their members"),
      h("thead", {}, h("tr", {},
        ...["group id", "group name", "group type", "members", "anonymous guests", "description", "actions"]
          .map((c) => h("th", {scope: "col"}, c)))),
      h("tbody", {}, rows)),
    h("p", {class: "help"}, "Members are registered customers; anonymous guest users are cookies that meet a ",
      "dynamic group's rules without being logged in. They are treated as in the group when they come back."),
  ]);
}

async function downloadCsv(group) {
  try {
    const name = await download(`/api/groups/${enc(group.id)}/members.csv`, `group-${group.id}-members.csv`);
    announce(`Downloaded ${name}.`, "ok");
  } catch (error) {
    announce(error instanceof ApiError ? error.line : String(error), "error");
  }
}

function recordColumns(type) {
  if (type === "public") return [["opted_in_at", "opted in"], ["opt_in_source", "how"], ["recorded_by", "recorded by"]];
  if (type === "private") return [["added_at", "added"], ["added_source", "where"], ["added_by", "added by"]];
  return [];
}

function memberTable(group, page, onRemove) {
  const extra = recordColumns(group.type);
  const head = ["customer", "email", "name", "joined", ...extra.map(([, label]) => label)];
  if (group.type === "private") head.push("actions");
  const rows = page.records.map((r) => h("tr", {},
    h("th", {scope: "row"}, h("a", {href: `#/subjects/${enc(`c:${r.customer_id}`)}?group=${enc(group.id)}`,
      title: "Why is this customer in the group?"}, r.customer_id)),
    h("td", {}, r.email || ""),
    h("td", {}, [r.first_name, r.last_name].filter(Boolean).join(" ")),
    h("td", {}, r.date_joined || ""),
    ...extra.map(([key]) => h("td", {}, key.endsWith("_at") ? when(r[key]) : r[key] || "")),
    group.type === "private" ? h("td", {}, h("button", {type: "button", class: "link danger",
      "aria-label": `Remove ${r.customer_id} from ${group.name}`, onclick: () => onRemove(r.customer_id)}, "Remove")) : null));
  return h("table", {class: "members"},
    h("caption", {class: "visually-hidden"}, `Members of ${group.name}`),
    h("thead", {}, h("tr", {}, head.map((c) => h("th", {scope: "col"}, c)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", {colspan: head.length}, "Nobody on this page."))));
}

export async function renderGroup(el, id) {
  let group = await get(`/api/groups/${enc(id)}?count=1`);
  const counts = h("div", {class: "counts", "aria-live": "polite"});
  const list = h("div", {class: "member-list"});
  const cursors = [0];  // the SSCAN cursor of each page seen, to go back
  let shown = -1;

  function renderCounts() {
    append(clear(counts), [h("h2", {id: "members-heading"}, `Members (${fmt(group.members)})`), guests(group.anonymous_guests)]);
  }

  async function showPage(index) {
    const page = await get(`/api/groups/${enc(id)}/records?cursor=${cursors[index]}&count=${PAGE_SIZE}`);
    if (index + 1 === cursors.length && page.next_cursor) cursors.push(page.next_cursor);
    shown = index;
    const nav = h("p", {class: "pager"},
      index > 0 ? h("button", {type: "button", onclick: () => showPage(index - 1)}, "Previous page") : null, " ",
      page.next_cursor ? h("button", {type: "button", onclick: () => showPage(index + 1)}, "Next page") : null);
    clear(list).append(memberTable(group, page, remove), nav);
  }

  async function refresh() {
    const before = [group.members, group.anonymous_guests];
    group = await get(`/api/groups/${enc(id)}?count=1`);
    if (before[0] !== group.members || before[1] !== group.anonymous_guests) {
      renderCounts();
      if (shown === 0) await showPage(0);
    }
  }

  async function staffChange(method, path, body, done) {
    const who = staffId();
    if (!who) {
      announce("Enter your staff ID first: it is recorded with the change.", "error");
      document.getElementById("staff-id")?.focus();
      return;
    }
    try {
      await api(method, path, body);
      announce(done, "ok");
      setTimeout(refresh, 800);
    } catch (error) {
      announce(error instanceof ApiError ? error.line : String(error), "error");
    }
  }

  function remove(customer) {
    staffChange("DELETE", `/api/groups/${enc(id)}/members/${enc(customer)}?staff_id=${enc(staffId())}&source=cms`,
      undefined, `${customer} will be removed from ${group.name} in a moment.`);
  }

  const actions = h("p", {class: "toolbar"},
    h("a", {href: `#/groups/${enc(id)}/edit`, class: "button"}, group.type === "dynamic" ? "Edit rules" : "Edit"), " ",
    h("button", {type: "button", onclick: () => downloadCsv(group)}, "Download CSV"), " ",
    h("button", {type: "button", class: "danger", onclick: () => deleteGroup(group)}, "Delete group"));
  append(el, [
    h("p", {class: "crumbs"}, h("a", {href: "#/"}, "Customer Groups"), " › ", group.name),
    h("h1", {}, group.name, " ", h("span", {class: `type ${group.type}`}, group.type)),
    h("p", {class: "help"}, `Group ${group.id}. ${TYPES[group.type] || ""}`),
    group.description ? h("p", {class: "description"}, group.description) : null,
    actions,
    group.type === "dynamic" ? [h("h2", {}, "Rules"), describeRules(group.definition.rules)] : null,
    group.type === "private" ? addForm(group, staffChange) : null,
    counts,
    group.type === "public" ? h("p", {class: "help"}, "Who opted in, when and how: the record of marketing consent.") : null,
    list,
  ]);
  renderCounts();
  await showPage(0);
  const timer = setInterval(() => refresh().catch(() => {}), REFRESH_MS);
  return () => clearInterval(timer);
}

function addForm(group, staffChange) {
  const customer = h("input", {id: "add-customer", name: "customer_id", required: true, autocomplete: "off"});
  const staff = h("input", {id: "staff-id", name: "staff_id", required: true, value: staffId(),
    onchange: (e) => staffId(e.target.value.trim())});
  return h("form", {class: "add-member", "aria-labelledby": "add-heading", onsubmit: (event) => {
    event.preventDefault();
    staffId(staff.value.trim());
    const id = customer.value.trim();
    staffChange("POST", `/api/groups/${enc(group.id)}/members`, {customer_id: id, staff_id: staffId(), source: "cms"},
      `${id} will be added to ${group.name} in a moment.`);
    customer.value = "";
  }},
  h("h2", {id: "add-heading"}, "Add a customer"),
  h("p", {class: "inline"}, h("label", {for: "add-customer"}, "Customer ID"), customer,
    h("label", {for: "staff-id"}, "Your staff ID"), staff, h("button", {type: "submit"}, "Add to group")));
}

async function deleteGroup(group) {
  const sure = await confirmDialog(`Delete ${group.name}?`,
    h("p", {}, `Group ${group.id} and its memberships are removed for every customer. The definition cannot be recovered here.`),
    "Delete group");
  if (!sure) return;
  try {
    await api("DELETE", `/api/groups/${enc(group.id)}`);
    flash(`Deleted ${group.name}.`);
    location.hash = "#/";
  } catch (error) {
    const problems = error instanceof ApiError ? error.problems.map((p) => p.message) : [];
    announce([error instanceof ApiError ? error.line : String(error), ...problems].join(" — "), "error");
  }
}
