// Rule rows as the seed's editor shows them (connector / field / operator / value, add and remove
// rows, nested blocks), the definition's JSON both ways, and each API problem placed at its row.

import {clear, h} from "./dom.js";

export const squash = (s) => String(s ?? "").trim().toLowerCase().replace(/[\s_-]+/g, "");
const NO_VALUE = new Set(["is set", "is not set"]);
const BLOCKS = {all: "All of these", any: "Any of these", none: "None of these", notall: "Not all of these"};
const CONNECTED = new Set(["top", "all", "notall"]);  // lists whose rows' and/or the compiler reads
let ids = 0;

// --- the definition's rules <-> nodes ------------------------------------------------------

function rowNode(r) {
  const between = Array.isArray(r.value) && squash(r.operator) === "between";
  const value = r.value;
  const node = {
    kind: "row", connector: String(r.connector || "and").toLowerCase(), field: r.field ?? "", operator: r.operator ?? "",
    text: between ? String(value[0] ?? "") : Array.isArray(value) ? value.join(", ")
      : value == null ? "" : typeof value === "boolean" ? (value ? "yes" : "no") : String(value),
    text2: between ? String(value[1] ?? "") : "",
    atLeast: r.at_least == null ? "" : String(r.at_least),
    window: r.within ?? (Array.isArray(r.between) ? `${r.between[0]} to ${r.between[1]}` : ""),
  };
  // what was loaded, so an untouched value is saved as it was (0 stays 0, not "0"): no change, no back-fill
  node.loaded = {text: node.text, text2: node.text2, value};
  return node;
}

function nodeFrom(raw) {
  if (Array.isArray(raw)) {
    const items = [...raw];
    const connector = items.length && ["and", "or"].includes(String(items[0]).toLowerCase()) ? items.shift() : "and";
    const [field, operator, value] = items;
    return rowNode({connector, field, operator, value});
  }
  if (raw && raw.all) return {kind: "block", type: "all", children: raw.all.map(nodeFrom)};
  if (raw && raw.any) return {kind: "block", type: "any", children: raw.any.map(nodeFrom)};
  if (raw && raw.not !== undefined) {
    const inner = raw.not;
    if (inner && inner.any) return {kind: "block", type: "none", children: inner.any.map(nodeFrom)};
    if (inner && inner.all) return {kind: "block", type: "notall", children: inner.all.map(nodeFrom)};
    return {kind: "block", type: "none", children: [nodeFrom(inner)]};
  }
  return rowNode(raw || {});
}

export const nodesFrom = (rules) => (rules || []).map(nodeFrom);
export const newRow = (connector = "and") => rowNode({connector});

function rowJson(n, vocab) {
  const field = vocab.field(n.field);
  const op = vocab.operator(field, n.operator);
  const out = {connector: n.connector, field: n.field, operator: n.operator};
  const text = n.text.trim();
  if (NO_VALUE.has(op)) {
    if (text) out.value = text;  // the compiler says it takes none
  } else if (op === "between" && field && field.kind !== "behaviour") {
    out.value = [text, n.text2.trim()];
  } else if (op === "in list" || (field && field.kind === "behaviour" && text.includes(","))) {
    out.value = text.split(",").map((v) => v.trim()).filter(Boolean);
  } else if (text) {
    out.value = text;
  }
  const loaded = n.loaded;
  if (loaded && loaded.value != null && n.text === loaded.text && n.text2 === loaded.text2) out.value = loaded.value;
  if (n.atLeast.trim()) out.at_least = /^\d+$/.test(n.atLeast.trim()) ? Number(n.atLeast.trim()) : n.atLeast.trim();
  const span = /^(.+?)\s+to\s+(.+)$/i.exec(n.window.trim());
  if (span) out.between = [span[1], span[2]];
  else if (n.window.trim()) out.within = n.window.trim();
  return out;
}

function nodeJson(n, vocab) {
  if (n.kind === "row") return rowJson(n, vocab);
  const kids = n.children.map((c) => nodeJson(c, vocab));
  if (n.type === "all") return {all: kids};
  if (n.type === "any") return {any: kids};
  if (n.type === "notall") return {not: {all: kids}};
  return kids.length === 1 ? {not: kids[0]} : {not: {any: kids}};
}

export const rulesOf = (nodes, vocab) => nodes.map((n) => nodeJson(n, vocab));

// --- where the compiler (rule 3 > any 1) and the schema (rules.2.0.value) put a child -----

function childPlace(block, loc, path, j, count) {
  if (block.type === "none" && count === 1) return [`${loc} > not`, path];
  const prefix = {all: " > all", any: " > any", none: " > not > any", notall: " > not > all"}[block.type];
  return [`${loc}${prefix} ${j}`, `${path}.${j - 1}`];
}

// --- the vocabulary: canonical names, whatever alias a definition used --------------------

export function vocabulary(raw) {
  const byName = new Map(raw.fields.map((f) => [f.name, f]));
  return {
    raw,
    field(name) {
      return byName.get(name) || byName.get(raw.aliases.fields[squash(name)]) || null;
    },
    operator(field, name) {
      if (!field) return name;
      if (field.operators.includes(name)) return name;
      const table = field.kind === "behaviour" && field.name !== "search" ? raw.aliases.actions : raw.aliases.operators;
      const found = table[squash(name)];
      return found && field.operators.includes(found) ? found : name;
    },
  };
}

// --- the editor ----------------------------------------------------------------------------

export class RuleEditor {
  constructor(vocab, nodes, onChange) {
    this.vocab = vocab;
    this.nodes = nodes.length ? nodes : [newRow()];
    this.onChange = onChange;
    this.element = h("div", {class: "rule-editor"});
    for (const n of this.all()) this.normalise(n);
    this.render();
  }

  *all(nodes = this.nodes) {
    for (const n of nodes) {
      yield n;
      if (n.kind === "block") yield* this.all(n.children);
    }
  }

  normalise(n) {  // show an alias as the canonical name the drop-down offers
    if (n.kind !== "row") return;
    const field = this.vocab.field(n.field);
    if (field) n.field = field.name;
    n.operator = this.vocab.operator(field, n.operator);
  }

  json() {
    return rulesOf(this.nodes, this.vocab);
  }

  changed(structure) {
    if (structure) this.render();
    this.onChange();
  }

  render() {
    this.places = new Map();  // compiler location or schema path -> the row's error element
    clear(this.element).append(this.list(this.nodes, "top", null, "rules"));
  }

  list(nodes, mode, parent, path) {
    const ol = h("ol", {class: `rules mode-${mode}`});
    nodes.forEach((n, i) => {
      const [loc, p] = parent ? childPlace(parent.block, parent.loc, parent.path, i + 1, nodes.length) : [`rule ${i + 1}`, `${path}.${i}`];
      ol.append(n.kind === "row" ? this.row(n, nodes, i, mode, loc, p) : this.block(n, nodes, i, mode, loc, p));
    });
    const add = (node) => () => {
      nodes.push(node());
      this.changed(true);
    };
    ol.append(h("li", {class: "add"},
      h("button", {type: "button", onclick: add(() => newRow(mode === "top" ? "and" : "or"))}, "Add row"), " ",
      h("button", {type: "button", onclick: add(() => ({kind: "block", type: "any", children: [newRow("or")]}))},
        "Add block")));
    return ol;
  }

  connector(n, i, mode) {
    if (i === 0) return h("span", {class: "connector fixed"}, "where");
    if (!CONNECTED.has(mode)) return h("span", {class: "connector fixed"}, "or");
    if (n.kind === "block") return h("span", {class: "connector fixed", title: "A block joins with 'and'"}, "and");
    return h("select", {class: "connector", "aria-label": "Connector", onchange: (e) => {
      n.connector = e.target.value;
      this.changed(false);
    }}, ["and", "or"].map((c) => h("option", {value: c, selected: n.connector === c}, c)));
  }

  errorSlot(loc, path) {
    const slot = h("p", {class: "row-error", id: `rule-error-${++ids}`, hidden: true});
    this.places.set(loc, slot);
    this.places.set(path, slot);
    return slot;
  }

  remove(nodes, i) {
    return h("button", {type: "button", class: "link danger", onclick: () => {
      nodes.splice(i, 1);
      this.changed(true);
    }}, nodes[i].kind === "row" ? "Remove row" : "Remove block");
  }

  row(n, nodes, i, mode, loc, path) {
    const field = this.vocab.field(n.field);
    const op = this.vocab.operator(field, n.operator);
    const slot = this.errorSlot(loc, path);
    const described = {"aria-describedby": slot.id};
    const text = (key, label, extra = {}) => h("input", {type: "text", value: n[key], "aria-label": label, ...described,
      ...extra, oninput: (e) => {
        n[key] = e.target.value;
        this.changed(false);
      }});
    const fieldSelect = h("select", {class: "field", "aria-label": "Field", ...described, onchange: (e) => {
      n.field = e.target.value;
      const next = this.vocab.field(n.field);
      if (next && !next.operators.includes(n.operator)) n.operator = next.operators[0];
      this.changed(true);
    }},
    field ? null : h("option", {value: n.field, selected: true}, n.field || "choose a field"),
    h("optgroup", {label: "About the customer"}, this.vocab.raw.fields.filter((f) => f.kind !== "behaviour")
      .map((f) => h("option", {value: f.name, selected: field === f, title: f.help}, f.name))),
    h("optgroup", {label: "What they did"}, this.vocab.raw.fields.filter((f) => f.kind === "behaviour")
      .map((f) => h("option", {value: f.name, selected: field === f, title: f.help}, f.name))));
    const operators = field ? field.operators : [];
    const opSelect = h("select", {class: "operator", "aria-label": "Operator", ...described, onchange: (e) => {
      n.operator = e.target.value;
      this.changed(true);
    }},
    operators.includes(op) ? null : h("option", {value: n.operator, selected: true}, n.operator || "choose"),
    operators.map((o) => h("option", {value: o, selected: o === op}, o)));
    const values = [];
    if (field && field.kind === "bool" && !NO_VALUE.has(op)) {
      if (!n.text) n.text = "yes";
      values.push(h("select", {"aria-label": "Value", ...described, onchange: (e) => {
        n.text = e.target.value;
        this.changed(false);
      }}, ["yes", "no"].map((v) => h("option", {value: v, selected: squash(n.text) === v}, v))));
    } else if (!NO_VALUE.has(op)) {
      const hint = field && field.kind === "behaviour" ? "e.g. Sony, or Sony, Samsung; * for any"
        : op === "in list" ? "a, b, c" : field && field.kind === "date" ? "01/11/2025, 30 days ago" : "";
      values.push(text("text", op === "between" ? "From" : "Value", {class: "value", placeholder: hint}));
      if (op === "between" && field && field.kind !== "behaviour") values.push(" and ", text("text2", "To", {class: "value"}));
    }
    const behaviour = field && field.kind === "behaviour" && field.name !== "search" ? h("span", {class: "behaviour"},
      h("label", {}, "at least ", text("atLeast", "At least (times)", {class: "small", inputmode: "numeric", placeholder: "1"})),
      h("label", {}, " within ", text("window", "Within (e.g. 90 days, or 01/10/2025 to 31/10/2025)",
        {class: "window", placeholder: "any time"}))) : null;
    return h("li", {class: "rule-row", dataset: {loc, path}},
      h("div", {class: "cells"}, this.connector(n, i, mode), fieldSelect, opSelect, ...values, behaviour,
        this.remove(nodes, i)),
      field ? h("p", {class: "field-help"}, field.help) : null,
      slot);
  }

  block(n, nodes, i, mode, loc, path) {
    const slot = this.errorSlot(loc, path);
    const type = h("select", {"aria-label": "Block type", onchange: (e) => {
      n.type = e.target.value;
      this.changed(true);
    }}, Object.entries(BLOCKS).map(([k, label]) => h("option", {value: k, selected: n.type === k}, label)));
    return h("li", {class: "rule-block", dataset: {loc, path}},
      h("fieldset", {},
        h("legend", {}, this.connector(n, i, mode), " ", type, " ", this.remove(nodes, i)),
        slot,
        this.list(n.children, n.type, {block: n, loc, path}, path)));
  }

  /** Show each problem at its row; returns those that belong to no row. */
  showProblems(problems) {
    for (const el of this.element.querySelectorAll(".row-error")) {
      el.hidden = true;
      clear(el);
    }
    for (const el of this.element.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const unplaced = [];
    for (const problem of problems) {
      const slot = this.place(problem.location);
      if (!slot) {
        unplaced.push(problem);
        continue;
      }
      slot.hidden = false;
      slot.append(h("span", {}, problemText(problem)));
      const item = slot.closest("li");
      for (const input of item.querySelectorAll(":scope > .cells > select, :scope > .cells input")) {
        input.setAttribute("aria-invalid", "true");
      }
    }
    return unplaced;
  }

  place(location) {
    if (!location) return null;
    if (this.places.has(location)) return this.places.get(location);
    if (!location.startsWith("rules")) return null;
    const parts = location.split(".");
    while (parts.length > 1) {  // rules.2.0.value -> rules.2.0 -> rules.2
      const key = parts.join(".");
      if (this.places.has(key)) return this.places.get(key);
      parts.pop();
    }
    return null;
  }
}

/** "value: Input should be ..." for a schema problem of one part of a row; the compiler's own text as it is. */
function problemText({location, message}) {
  const part = /^rules(\.\d+)*\.([a-z_]+)$/.exec(location || "");
  if (!part) return message;
  const empty = message.startsWith("String should have at least 1 character");
  return `${part[2].replace("_", " ")}: ${empty ? "choose or fill this in" : message}`;
}

// --- read only: the rules as the seed lists them ---------------------------------------------

function rowText(r) {
  const value = Array.isArray(r.value) ? r.value.join(", ") : r.value ?? "";
  const extra = [r.at_least ? `at least ${r.at_least} times` : "", r.within ? `within ${r.within}` : "",
    r.between ? `between ${r.between[0]} and ${r.between[1]}` : ""].filter(Boolean).join(", ");
  return [r.field, r.operator, value, extra ? `(${extra})` : ""].filter((s) => s !== "").join(" ");
}

export function describeRules(rules) {
  const list = (nodes, mode) => h("ol", {class: `rules-view mode-${mode}`}, nodes.map((n, i) => {
    const lead = i === 0 ? "" : !CONNECTED.has(mode) ? "or" : n.kind === "row" ? n.connector : "and";
    if (n.kind === "row") {
      return h("li", {}, lead ? h("span", {class: "connector"}, lead) : null, " ", rowText(nodeJsonForView(n)));
    }
    return h("li", {}, lead ? h("span", {class: "connector"}, lead) : null, " ", BLOCKS[n.type].toLowerCase(), ":",
      list(n.children, n.type));
  }));
  return list(nodesFrom(rules), "top");
}

function nodeJsonForView(n) {
  const between = n.text2 ? [n.text, n.text2] : null;
  return {field: n.field, operator: n.operator, value: between || n.text, at_least: n.atLeast,
    within: /\bto\b/.test(n.window) ? "" : n.window,
    between: /\bto\b/.test(n.window) ? n.window.split(/\s+to\s+/) : null};
}
