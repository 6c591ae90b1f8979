// A restaurant's orders with their payments, and the manual override.
import { api, serverEnum } from "../api.js";
import { h, badge, money, table, row, code, when } from "../dom.js";

function payments(o) {
  if (!o.payments.length) return "—";
  return o.payments.map((p) => {
    const amount = p.amount === null ? "" : ` ${money(p.amount, p.currency)}`;
    const refunded = p.amount_refunded ? ` (refunded ${money(p.amount_refunded, p.currency)})` : "";
    return h("div", {}, `${p.status}${amount}${refunded}`);
  });
}

function overrideForm(o, base, statuses, reload) {
  const select = h("select", { id: `override-status-${o.order_id}`, "aria-label": `New status of ${o.order_id}` },
    statuses.map((s) => h("option", { value: s, selected: s === "PAID" }, s))); // settled by hand: paid, most often
  const reason = h("input", { id: `override-reason-${o.order_id}`, "aria-label": `Reason for ${o.order_id}`, placeholder: "reason (required)" });
  const msg = h("span", { class: "error", role: "alert" });
  const submit = async (e) => {
    e.preventDefault();
    try {
      await api("POST", `${base}/orders/${encodeURIComponent(o.order_id)}/override`, { status: select.value, reason: reason.value });
      reload();
    } catch (err) {
      msg.textContent = err.message;
    }
  };
  return h("form", { onsubmit: submit }, select, reason, h("button", { type: "submit" }, "Override"), msg);
}

// What was expected, and for an order whose payments did not cover it, what came in.
function amount(o) {
  if (o.status !== "AMOUNT_MISMATCH") return money(o.amount, o.currency);
  return h("div", { class: "mismatch" },
    h("div", {}, `expected ${money(o.amount, o.currency)}`),
    h("div", {}, `received ${money(o.amount_received, o.currency)} in ${o.currency.toUpperCase()}`));
}

// A dispute: where it stands, how much, why, and by when the evidence is due.
function disputes(o) {
  if (!o.disputes || !o.disputes.length) return "—";
  return o.disputes.map((d) => h("div", { class: d.status === "lost" || d.status.endsWith("needs_response") ? "mismatch" : "" },
    `${d.id}: ${d.status.replaceAll("_", " ")}, ${money(d.amount, d.currency || o.currency)}`,
    d.reason ? `, ${d.reason.replaceAll("_", " ")}` : "",
    d.evidence_due_by && !["won", "lost", "warning_closed"].includes(d.status) ? [", evidence due by ", when(d.evidence_due_by)] : ""));
}

const mode = (o) => h("span", { class: `mode ${o.livemode ? "live" : "test"}` }, o.livemode ? "live" : "test");

export async function ordersView(body, { base, reload }) {
  const [list, statuses] = await Promise.all([api("GET", `${base}/orders?limit=100`), serverEnum("OrderStatus")]);
  const rows = list.items.map((o) => row(code(o.order_id), badge(o.status), mode(o), amount(o), o.reference || "—",
    payments(o), disputes(o), o.manual_status ? `${o.manual_status}: ${o.manual_reason}` : "—", overrideForm(o, base, statuses, reload)));
  body.append(table("orders", ["Order", "Status", "Mode", "Amount", "Reference", "Payments", "Dispute", "Manual status", "Override"], rows, "No orders yet."));
}
