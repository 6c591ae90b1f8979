// Where the restaurant's backend hears about its orders and whatever else Stripe says:
// endpoints (the secret shown once) with the event types each gets, pause / resume /
// send again since a time, each one's delivery log with every attempt, and "send again".
import { api } from "../api.js";
import { h, fill, when, badge, table, row, code, fieldError, copyButton } from "../dom.js";

function attempts(d) {
  if (!d.attempts.length) return "—";
  return d.attempts.map((a) => h("div", {}, `${when(a.at)}: ${a.response_status ?? a.error}`));
}

async function deliveriesOf(base, endpoint, into) {
  const path = `${base}/notification-endpoints/${endpoint.id}/deliveries`;
  const list = await api("GET", path);
  const again = (d) => async () => {
    await api("POST", `${path}/${d.id}/send-again`, {});
    await deliveriesOf(base, endpoint, into);
  };
  const rows = list.items.map((d) => row(code(d.webhook_id), d.type, badge(d.status), attempts(d), when(d.created_at),
    h("button", { type: "button", class: "secondary", onclick: again(d) }, "Send again")));
  fill(into, h("h3", {}, `Deliveries to ${endpoint.url}`),
    table("deliveries", ["webhook-id", "Type", "Status", "Attempts (time: answer)", "Created", ""], rows, "Nothing sent yet."));
}

export async function notificationsView(body, { base, reload }) {
  const list = await api("GET", `${base}/notification-endpoints`);
  const log = h("section", { class: "card", id: "delivery-log", "aria-live": "polite" });
  const shown = h("div", { id: "new-endpoint" });
  const url = h("input", { id: "endpoint-url", type: "url", required: true, placeholder: "https://backend.example.com/hooks/gateway" });
  const types = h("input", { id: "endpoint-types", placeholder: "order.*, subscription.*, invoice.paid", value: "order.*" });
  const add = async (e) => {
    e.preventDefault();
    fieldError(url, "");
    fieldError(types, "");
    const event_types = types.value.split(",").map((t) => t.trim()).filter(Boolean);
    try {
      const created = await api("POST", `${base}/notification-endpoints`, { url: url.value, event_types });
      url.value = "";
      const secret = h("input", { id: "endpoint-secret", readonly: true, value: created.secret, class: "once" });
      fill(shown, h("label", { for: "endpoint-secret" }, `Signing secret of ${created.url}: shown this once, store it in your backend`),
        secret, copyButton(() => created.secret, "Copy secret"));
    } catch (err) {
      fieldError(/event_types/.test(err.message) ? types : url, err.message);
    }
  };
  const pause = (ep) => async () => {
    await api("POST", `${base}/notification-endpoints/${ep.id}/${ep.paused ? "resume" : "pause"}`, {});
    reload();
  };
  const resend = (ep) => {
    const since = h("input", { id: `resend-since-${ep.id}`, type: "datetime-local", required: true,
      "aria-label": `Send again to ${ep.url} everything since` });
    const said = h("span", { role: "status" });
    const submit = async (e) => {
      e.preventDefault();
      fieldError(since, "");
      try {
        const done = await api("POST", `${base}/notification-endpoints/${ep.id}/resend`, { since: new Date(since.value).toISOString() });
        said.textContent = `${done.resent} sent again, in order`;
      } catch (err) {
        fieldError(since, err.message);
      }
    };
    return h("form", { onsubmit: submit }, since, h("button", { type: "submit", class: "secondary" }, "Send again since"), said);
  };
  const remove = (ep) => async () => {
    if (!confirm(`Stop notifying ${ep.url}?`)) return;
    await api("DELETE", `${base}/notification-endpoints/${ep.id}`);
    reload();
  };
  const rows = list.items.map((ep) => row(code(ep.url), ep.event_types.join(", "), badge(ep.paused ? "paused" : "active"), when(ep.created_at),
    h("button", { type: "button", class: "secondary", onclick: () => deliveriesOf(base, ep, log) }, "Deliveries"),
    h("button", { type: "button", class: "secondary", onclick: pause(ep) }, ep.paused ? "Resume" : "Pause"),
    resend(ep),
    h("button", { type: "button", class: "danger", onclick: remove(ep) }, "Remove")));
  body.append(
    h("form", { class: "card", "aria-labelledby": "endpoint-title", onsubmit: add },
      h("h2", { id: "endpoint-title" }, "Notify your backend"),
      h("p", { class: "muted" }, "When an order is paid, fails, expires or is refunded, the gateway POSTs it here, signed as the Standard Webhooks specification says. List Stripe event types too (invoice.paid, customer.subscription.*) and each verified Stripe event of those types is forwarded as received; subscription.* tells of subscriptions' status."),
      h("label", { for: "endpoint-url" }, "Endpoint URL"), url,
      h("label", { for: "endpoint-types" }, "Event types (comma-separated; a trailing * matches a prefix)"), types,
      h("button", { type: "submit" }, "Add endpoint"), shown),
    table("endpoints", ["URL", "Event types", "State", "Added", "", "", "", ""], rows, "No endpoints yet."),
    log);
}
