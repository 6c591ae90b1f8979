// Talking to the admin API. The token lives in this module only: not in localStorage,
// not in a cookie. A request that finds the session expired waits for the sign-in
// overlay and is sent again, so what was typed on the page is kept.
import { $ } from "./dom.js";

let token = null;
let me = null;
let waiting = null; // the pending sign-in, when a request found the session expired

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.reason || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export const signedIn = () => token !== null;
export const whoAmI = () => me;

export async function api(method, path, body) {
  for (;;) {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    // A 401 means the session ended, except where a password typed was what was wrong.
    const wrongPassword = data && data.error === "invalid_credentials";
    if (res.status === 401 && !wrongPassword) {
      token = null;
      await signIn(true);
      continue;
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }
}

// The sign-in overlay: resolves once signed in.
export function signIn(expired) {
  if (waiting) return waiting.promise;
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  waiting = { promise, resolve };
  $("signin-note").hidden = !expired;
  $("signin-error").textContent = "";
  $("signin").hidden = false;
  $("signin-email").focus();
  return promise;
}

// Signs out on the server too: the token stops working there, not only here.
export async function signOut() {
  const ending = token;
  token = null;
  me = null;
  $("who").textContent = "";
  $("signout").hidden = true;
  $("password-open").hidden = true;
  if (ending) {
    await fetch("/api/v1/admin/logout", { method: "POST", headers: { authorization: `Bearer ${ending}` } }).catch(() => {});
  }
}

// A new password: every other session of the account ends; this one goes on with the
// fresh token the server answers.
export async function changePassword(current, next) {
  const res = await api("PUT", "/api/v1/admin/me/password", { current_password: current, new_password: next });
  token = res.token;
}

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const email = $("signin-email").value;
  const password = $("signin-password").value;
  try {
    const res = await api("POST", "/api/v1/admin/login", { email, password });
    token = res.token;
    $("signin-password").value = "";
    me = await api("GET", "/api/v1/admin/me");
    $("who").textContent = `${me.email} · ${me.role === "platform_admin" ? "platform admin" : `admin of ${me.tenant}`}`;
    $("signout").hidden = false;
    $("password-open").hidden = false;
    $("signin").hidden = true;
    const w = waiting;
    waiting = null;
    if (w) w.resolve();
  } catch (err) {
    $("signin-error").textContent = err.status === 429 ? "Too many attempts: wait a minute." : "Wrong email or password.";
  }
});

// The server's enumerations (event and order statuses), read from its OpenAPI
// document so that the panel never carries a copy of them.
let enums = null;
export async function serverEnum(name) {
  enums ??= fetch("/api/v1/openapi.json").then((r) => r.json()).then((doc) => doc.components.schemas);
  return (await enums)[name].enum;
}
