// A restaurant's subscriptions (memberships, meal plans), as their newest Stripe events
// say, filtered by status and paged.
import { api } from "../api.js";
import { h, badge, table, row, code, when } from "../dom.js";

const STATUSES = ["", "active", "trialing", "past_due", "unpaid", "paused", "incomplete", "incomplete_expired", "canceled"];

export async function subscriptionsView(body, { base }) {
  const filter = h("select", { id: "subscription-status", "aria-label": "Status" },
    STATUSES.map((s) => h("option", { value: s }, s ? s.replaceAll("_", " ") : "every status")));
  const list = h("div", { id: "subscriptions-list" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More");
  let cursor = null;
  const load = async (fresh) => {
    if (fresh) {
      cursor = null;
      list.replaceChildren();
    }
    const query = new URLSearchParams({ limit: "50" });
    if (filter.value) query.set("status", filter.value);
    if (cursor) query.set("cursor", cursor);
    const page = await api("GET", `${base}/subscriptions?${query}`);
    const rows = page.items.map((s) => row(code(s.id), badge(s.status), s.customer || "—", s.price_ids.join(", ") || "—",
      when(s.current_period_end), s.cancel_at_period_end ? "at period end" : "—", s.livemode ? "live" : "test", when(s.updated_at)));
    list.append(table("subscriptions", ["Subscription", "Status", "Customer", "Prices", "Period ends", "Cancels", "Mode", "Updated"], rows,
      !fresh ? "No more." : filter.value ? `None ${filter.value.replaceAll("_", " ")}.`
        : "No subscriptions yet: they appear with their first Stripe event (customer.subscription.*, invoice.paid)."));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  };
  filter.addEventListener("change", () => load(true));
  more.addEventListener("click", () => load(false));
  body.append(h("section", { class: "card" }, h("h2", {}, "Subscriptions"),
    h("label", { for: "subscription-status" }, "Status"), filter), list, more);
  await load(true);
}
