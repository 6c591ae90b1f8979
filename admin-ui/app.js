// The settings panel: routes between the restaurants list and one restaurant's tabs.
import { api, changePassword, signIn, signOut, signedIn } from "./js/api.js";
import { $, h, fill } from "./js/dom.js";
import { tenantsPage } from "./js/views/tenants.js";
import { settingsView } from "./js/views/settings.js";
import { eventsView } from "./js/views/events.js";
import { ordersView } from "./js/views/orders.js";
import { keysView } from "./js/views/keys.js";
import { healthView } from "./js/views/health.js";
import { diagnosisView } from "./js/views/diagnosis.js";
import { notificationsView } from "./js/views/notifications.js";
import { subscriptionsView } from "./js/views/subscriptions.js";

const main = $("main");

const TABS = [
  ["settings", "Payment settings", settingsView],
  ["events", "Webhook events", eventsView],
  ["orders", "Orders", ordersView],
  ["subscriptions", "Subscriptions", subscriptionsView],
  ["keys", "API keys", keysView],
  ["notifications", "Notifications", notificationsView],
  ["health", "Health", healthView],
  ["diagnosis", "Diagnosis", diagnosisView],
];

async function tenantPage(slug, tab) {
  const base = `/api/v1/admin/tenants/${encodeURIComponent(slug)}`;
  const config = await api("GET", `${base}/payment-config`); // 404 when not ours
  const tenants = await api("GET", "/api/v1/admin/tenants");
  const tenant = tenants.items.find((t) => t.slug === slug) || { slug, name: slug };
  const nav = h("nav", { class: "tabs", "aria-label": "Restaurant sections" },
    TABS.map(([id, label]) => h("a", { href: `#/t/${encodeURIComponent(slug)}/${id}`, "aria-current": id === tab ? "page" : null }, label)));
  const body = h("div");
  fill(main, h("h1", {}, tenant.name), nav, body);
  const view = (TABS.find(([id]) => id === tab) || TABS[0])[2];
  await view(body, { base, slug, config, reload: route });
}

async function route() {
  if (!signedIn()) return signIn(false).then(route);
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  try {
    if (parts[0] === "t" && parts[1]) return await tenantPage(decodeURIComponent(parts[1]), parts[2] || "settings");
    return await tenantsPage(main, route);
  } catch (err) {
    const missing = err.status === 404;
    fill(main, h("div", { class: "card" }, h("h1", {}, missing ? "Not found" : "Something went wrong"),
      h("p", {}, missing ? "This restaurant does not exist, or is not yours." : err.message)));
  }
}

$("signout").addEventListener("click", async () => {
  await signOut();
  fill(main);
  location.hash = "#/tenants";
  signIn(false).then(route);
});

// Changing the password: a dialog over the page, closed on success or on cancel.
const passwordFields = ["password-current", "password-new", "password-again"];
function closePassword() {
  for (const id of passwordFields) $(id).value = "";
  $("password-error").textContent = "";
  $("password").hidden = true;
}
$("password-open").addEventListener("click", () => {
  $("password").hidden = false;
  $("password-current").focus();
});
$("password-cancel").addEventListener("click", closePassword);
$("password-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const [current, next, again] = passwordFields.map((id) => $(id).value);
  if (next !== again) {
    $("password-error").textContent = "The new passwords differ.";
    return;
  }
  try {
    await changePassword(current, next);
    closePassword();
    fill(main, h("div", { class: "card", role: "status" }, h("p", {}, "Password changed: every other session of this account is signed out.")));
  } catch (err) {
    $("password-error").textContent =
      err.status === 401 ? "The current password is wrong." :
      err.status === 429 ? "Too many sign-ins at once: try again in a moment." : err.message;
  }
});
window.addEventListener("hashchange", route);
route();
