/// <reference lib="dom" />
/**
 * The token: from the URL fragment (`skiff dashboard` prints such a link) or the login
 * form, kept in sessionStorage for this tab only, and never left in the address bar.
 */
import { byId, input } from "./dom.ts";

const TOKEN_KEY = "skiff.token";
const TOKEN_IN_FRAGMENT = /(?:^#|&)token=([^&]+)/;

export function showLogin(message: string): void {
  byId("login").classList.remove("hidden");
  byId("main").classList.add("hidden");
  byId("tabs").classList.add("hidden");
  byId("login-error").textContent = message;
}

export function takeTokenFromUrl(): string {
  const m = TOKEN_IN_FRAGMENT.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    // The token must not stay in the address bar (history, screenshots, shoulder surfing).
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setUpLogin(): void {
  // A `skiff dashboard` link pasted into an already open tab only changes the fragment.
  globalThis.addEventListener("hashchange", () => {
    if (/(?:^#|&)token=/.test(location.hash)) {
      takeTokenFromUrl();
      location.reload();
    }
  });
  byId("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input("login-token").value.trim());
    location.reload();
  });
}
