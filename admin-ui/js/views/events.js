// The webhook event log: filters, load more, one event with its payload, retry.
import { api, serverEnum } from "../api.js";
import { h, fill, when, badge, row, code } from "../dom.js";

const COLUMNS = ["Status", "Type", "Stripe event", "Outcome", "Attempts", "Source", "Received", "Processed", ""];

export async function eventsView(body, { base }) {
  const statuses = await serverEnum("EventStatus");
  const status = h("select", { id: "filter-status" }, h("option", { value: "" }, "any"), statuses.map((s) => h("option", { value: s }, s)));
  const type = h("input", { id: "filter-type", placeholder: "e.g. checkout.session.completed" });
  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "secondary", id: "load-more", hidden: true }, "Load more");
  const detail = h("section", { class: "card", id: "event-detail", hidden: true, "aria-live": "polite" });
  let cursor = null;

  const load = async (reset) => {
    if (reset) { fill(tbody); cursor = null; }
    const q = new URLSearchParams({ limit: "50" });
    if (status.value) q.set("status", status.value);
    if (type.value.trim()) q.set("type", type.value.trim());
    if (cursor) q.set("cursor", cursor);
    const page = await api("GET", `${base}/webhook-events?${q}`);
    for (const ev of page.items) {
      tbody.append(row(badge(ev.status), ev.type || "—", code(ev.stripe_event_id), ev.outcome || (ev.error ? "error" : "—"),
        ev.attempts, ev.source, when(ev.received_at), when(ev.processed_at),
        h("button", { type: "button", class: "secondary", onclick: () => open(ev.id) }, "Open")));
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
    if (!tbody.children.length) tbody.append(h("tr", {}, h("td", { colspan: COLUMNS.length, class: "muted" }, "No deliveries yet.")));
  };

  const open = async (id) => {
    const ev = await api("GET", `${base}/webhook-events/${id}`);
    const retry = async () => {
      try {
        await api("POST", `${base}/webhook-events/${id}/retry`);
        await open(id);
        await load(true);
      } catch (err) {
        detail.append(h("p", { class: "error", role: "alert" }, err.message));
      }
    };
    const fact = (name, value, attrs) => [h("dt", {}, name), h("dd", attrs || {}, value)];
    fill(detail, h("h2", {}, `Event ${ev.stripe_event_id || ev.id}`),
      h("dl", { class: "kv" }, fact("Status", badge(ev.status)), fact("Type", ev.type || "—"), fact("Outcome", ev.outcome || "—"),
        fact("Order", ev.order_id || "—", { class: "once" }), fact("Attempts", ev.attempts), fact("Error", ev.error || "—", { id: "event-error" })),
      ev.status === "FAILED" ? h("button", { type: "button", id: "retry-event", onclick: retry }, "Retry") : null,
      h("h3", {}, "Payload"),
      h("pre", { id: "event-payload" }, ev.payload === null ? "(not stored: the delivery was not verified)" : JSON.stringify(ev.payload, null, 2)),
      h("button", { type: "button", class: "secondary", onclick: () => { detail.hidden = true; } }, "Close"));
    detail.hidden = false;
    detail.scrollIntoView({ block: "nearest" });
  };

  body.append(h("form", { class: "card row", onsubmit: (e) => { e.preventDefault(); load(true); } },
    h("div", {}, h("label", { for: "filter-status" }, "Status"), status),
    h("div", {}, h("label", { for: "filter-type" }, "Type"), type),
    h("div", {}, h("button", { type: "submit" }, "Filter"))),
  detail,
  h("div", { class: "table-wrap" }, h("table", { id: "events" }, h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))), tbody)),
  more);
  more.addEventListener("click", () => load(false));
  await load(true);
}
