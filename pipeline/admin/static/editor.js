// Creating or editing a group. Dynamic groups get the rule rows; as the admin types, the draft goes
// through the same compiler as `customer-groups rules check` (POST /api/rules/check) and every problem
// is shown at its row. "Preview" counts the draft over the live profiles (the dry run); "Save"
// publishes it, and a definition the API refuses is never half-saved: nothing is published at all.

import {ApiError, api, enc, get} from "./api.js";
import {announce, clear, flash, fmt, h, plural} from "./dom.js";
import {RuleEditor, nodesFrom, vocabulary} from "./rows.js";

const CHECK_DELAY_MS = 350;
let vocabCache = null;

function nextId(groups) {
  const numbers = groups.map((g) => Number(g.id)).filter(Number.isInteger);
  return String(numbers.length ? Math.max(...numbers) + 1 : 1);
}

function field(id, label, input, help) {
  const slot = h("p", {class: "row-error", id: `${id}-error`, hidden: true});
  input.setAttribute("aria-describedby", [help ? `${id}-help` : "", `${id}-error`].filter(Boolean).join(" "));
  return {slot, input, element: h("div", {class: "form-field"}, h("label", {for: id}, label), input,
    help ? h("p", {class: "help", id: `${id}-help`}, help) : null, slot)};
}

export async function renderEditor(el, id) {
  if (!vocabCache) vocabCache = vocabulary(await get("/api/rules/vocabulary"));
  const vocab = vocabCache;
  const existing = id ? await get(`/api/groups/${enc(id)}?count=1`) : null;
  const definition = existing ? existing.definition : {type: "dynamic", rules: []};
  const groupId = field("group-id", "Group ID", h("input", {id: "group-id", required: true, value: existing ? existing.id :
    nextId((await get("/api/groups")).groups), readonly: !!existing, autocomplete: "off"}), existing ? "" : "A number, as the CMS numbers its groups; it never changes.");
  const name = field("group-name", "Group name", h("input", {id: "group-name", required: true, value: definition.name || "",
    autocomplete: "off", maxlength: 120}));
  const type = field("group-type", "Group type", h("select", {id: "group-type", disabled: !!existing},
    ["dynamic", "public", "private"].map((t) => h("option", {value: t, selected: definition.type === t}, t))),
  "Dynamic: filled by rules. Public: customers opt in. Private: staff add customers.");
  const description = field("group-description", "Description", h("textarea", {id: "group-description", rows: 2,
    maxlength: 2000}, definition.description || ""));
  const fields = {id: groupId, name, type, description};

  const check = h("p", {class: "check", "aria-live": "polite"});
  const preview = h("p", {class: "preview", "aria-live": "polite"});
  const general = h("div", {class: "problems", role: "alert"});
  let timer = null;
  let seq = 0;
  const editor = new RuleEditor(vocab, nodesFrom(definition.rules), () => {
    clearTimeout(timer);
    timer = setTimeout(validate, CHECK_DELAY_MS);
    clear(preview);
  });
  const rulesSection = h("section", {class: "rules-section", "aria-labelledby": "rules-heading"},
    h("h2", {id: "rules-heading"}, "Rules"),
    h("p", {class: "help"}, "A customer or visitor is in the group when the rows hold. 'and' binds tighter than ",
      "'or' (rows a, or b, and c mean a or (b and c)); use a block for anything else."),
    editor.element, check,
    h("p", {}, h("button", {type: "button", id: "preview", onclick: runPreview}, "Preview members")), preview);

  function body() {
    const out = {id: groupId.input.value.trim(), name: name.input.value.trim(), type: type.input.value};
    const text = description.input.value.trim();
    if (text) out.description = text;
    if (out.type === "dynamic") out.rules = editor.json();
    return out;
  }

  function show(problems) {
    for (const f of Object.values(fields)) {
      f.slot.hidden = true;
      clear(f.slot);
      f.input.removeAttribute("aria-invalid");
    }
    clear(general);
    const rest = editor.showProblems(problems);
    for (const problem of rest) {
      const f = fields[problem.location];
      if (f) {
        f.slot.hidden = false;
        f.slot.append(problem.message);
        f.input.setAttribute("aria-invalid", "true");
      } else {
        general.append(h("p", {class: "error"}, problem.location ? `${problem.location}: ${problem.message}` : problem.message));
      }
    }
  }

  function problemsOf(error) {
    if (!(error instanceof ApiError)) return [{message: String(error)}];
    return error.problems.length ? error.problems : [{message: error.line, location: error.status === 409 ? "id" : null}];
  }

  async function validate() {
    const mine = ++seq;
    const draft = body();
    if (draft.type !== "dynamic") return;
    try {
      await api("POST", "/api/rules/check", {...draft, id: draft.id || undefined, name: draft.name || undefined});
      if (mine !== seq) return;
      show([]);
      check.className = "check ok";
      check.textContent = "✔ The rules are valid.";
    } catch (error) {
      if (mine !== seq) return;
      const problems = problemsOf(error);
      show(problems);
      check.className = "check error";
      check.textContent = `✘ ${plural(problems.length, "problem", "problems")}: see the marked rows.`;
    }
  }

  async function runPreview() {
    clear(preview).append("Counting over the live profiles…");
    try {
      const {rules} = body();
      const r = await api("POST", "/api/groups/dry-run", {rules});
      show([]);
      clear(preview).append(h("strong", {id: "preview-count"},
        `${plural(r.customers, "customer", "customers")} and ${plural(r.anonymous_guests, "anonymous guest user", "anonymous guest users")}`),
      " would be in this group now",
      r.complete ? ` (all ${fmt(r.partitions_total)} partitions counted, ${plural(r.profiles_scanned, "profile", "profiles")} scanned).`
        : `: only ${fmt(r.partitions_answered)} of ${fmt(r.partitions_total)} partitions answered, so this is a part of the whole.`);
    } catch (error) {
      const problems = problemsOf(error);
      show(problems);
      clear(preview).append(h("span", {class: "error"}, error instanceof ApiError && error.status === 422
        ? "Fix the marked rows to preview." : problems[0].message));
    }
  }

  async function save(event) {
    event.preventDefault();
    const draft = body();
    try {
      const saved = existing ? await api("PUT", `/api/groups/${enc(existing.id)}`, draft) : await api("POST", "/api/groups", draft);
      flash(`Saved ${saved.name}.${saved.type === "dynamic" ? " Members are filled in from the existing profiles." : ""}`);
      location.hash = `#/groups/${enc(saved.id)}`;
    } catch (error) {
      show(problemsOf(error));
      announce("Nothing was saved: fix the problems marked below.", "error");
      (el.querySelector("[aria-invalid=true]") || general).scrollIntoView({block: "center"});
    }
  }

  const form = h("form", {class: "editor", novalidate: true, onsubmit: save, oninput: () => {
    if (type.input.value !== "dynamic") show([]);
  }},
  Object.values(fields).map((f) => f.element),
  rulesSection, general,
  h("p", {class: "actions"}, h("button", {type: "submit", id: "save"}, existing ? "Save changes" : "Create group"), " ",
    h("a", {href: existing ? `#/groups/${enc(existing.id)}` : "#/"}, "Cancel")));
  const toggle = () => { rulesSection.hidden = type.input.value !== "dynamic"; };
  type.input.addEventListener("change", toggle);
  toggle();
  el.append(
    h("p", {class: "crumbs"}, h("a", {href: "#/"}, "Customer Groups"), " › ",
      existing ? h("a", {href: `#/groups/${enc(existing.id)}`}, existing.name) : "new group"),
    h("h1", {}, existing ? `Edit ${existing.name}` : "Add a customer group"), form);
  if (type.input.value === "dynamic" && existing) validate();
  return () => clearTimeout(timer);
}
