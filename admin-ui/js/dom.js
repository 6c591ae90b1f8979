// Building the page: plain DOM, no framework, no innerHTML. Every value from the API
// (an event payload is untrusted input from the internet) goes in as text.

export const $ = (id) => document.getElementById(id);

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// replaceChildren, skipping the null/false of conditional parts.
export const fill = (el, ...kids) =>
  el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

export const badge = (s) => h("span", { class: `status ${s || ""}` }, s || "—");

// An amount in the currency's smallest unit, formatted for the reader's locale with as
// many decimals as the currency has (2 for EUR, 0 for JPY, 3 for KWD).
export function money(amount, currency) {
  const code = String(currency || "").toUpperCase();
  try {
    const format = new Intl.NumberFormat(undefined, { style: "currency", currency: code });
    const digits = format.resolvedOptions().maximumFractionDigits;
    return format.format(amount / 10 ** digits);
  } catch {
    return `${amount} ${code}`; // not an ISO currency: show what the API said
  }
}

// A table in its scrolling wrapper: column titles, rows, and a line when there are none.
export function table(id, columns, rows, empty) {
  const body = rows.length ? rows : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty));
  return h("div", { class: "table-wrap" },
    h("table", { id }, h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, body)));
}

export const row = (...cells) => h("tr", {}, cells.map((c) => (c instanceof Node && c.tagName === "TD" ? c : h("td", {}, c))));

export const code = (text) => h("td", { class: "once" }, text || "—");

export function fieldError(input, message) {
  const id = `${input.id}-error`;
  let el = document.getElementById(id);
  if (!el) {
    el = h("p", { id, class: "error", role: "alert" });
    input.after(el);
    input.setAttribute("aria-describedby", id);
  }
  el.textContent = message || "";
  input.setAttribute("aria-invalid", message ? "true" : "false");
}

export function copyButton(getText, label = "Copy") {
  return h("button", {
    type: "button", class: "secondary",
    onclick: async (e) => {
      try {
        await navigator.clipboard.writeText(getText());
        e.target.textContent = "Copied";
      } catch {
        e.target.textContent = "Select and copy";
      }
      setTimeout(() => (e.target.textContent = label), 1500);
    },
  }, label);
}
