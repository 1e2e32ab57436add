// The console's shell: sign-in, then one view per part, picked by the URL's hash.
import { $, api, notice, session } from "/admin/core.js";
import dashboard from "/admin/dashboard.js";
import playground from "/admin/playground.js";
import history from "/admin/history.js";
import keys from "/admin/keys.js";
import logs from "/admin/logs.js";
import tunnel from "/admin/tunnel.js";
import settings from "/admin/settings.js";

const views = { dashboard, playground, history, keys, logs, tunnel, settings };
let leave = null;

// Nothing but the sign-in form until the server accepts the key (or this machine needs none).
async function signedIn() {
  try {
    await api("GET", "/admin/config/schema");
    return true;
  } catch (e) {
    if (e.status !== 401 && e.status !== 403) throw e;
    $("#login-error").textContent = session.key ? (e.status === 403 ? "This key has no admin scope." : "The server refused this key.") : "";
    return false;
  }
}

async function show() {
  leave?.();
  leave = null;
  notice("");
  let ok;
  try { ok = await signedIn(); } catch (e) { notice("Loading the console failed: " + e.message); return; }
  $("#login-view").hidden = ok;
  $("#nav").hidden = !ok;
  $("#sign-out").hidden = !ok || !session.key;
  const view = $("#view");
  view.hidden = !ok;
  if (!ok) { view.replaceChildren(); $("#login-key").focus(); return; }
  const name = location.hash.slice(1).split("/")[0] || "dashboard";
  const part = views[name] || dashboard;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.hash === "#" + name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  document.title = `${part.title} · Codex API Server`;
  view.replaceChildren();
  try { leave = (await part.render(view, location.hash.slice(1).split("/").slice(1).join("/"))) || null; }
  catch (e) { notice(`Loading ${part.title} failed: ${e.message}`); }
}

$("#login-view").addEventListener("submit", (event) => {
  event.preventDefault();
  session.key = $("#login-key").value.trim();
  $("#login-key").value = "";
  show();
});
$("#sign-out").addEventListener("click", () => { session.key = ""; show(); });
window.addEventListener("hashchange", show);
show();
