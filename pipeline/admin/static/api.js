// The admin API, called with the bearer token typed once and kept in this tab's sessionStorage
// (never in a URL, never in localStorage: it goes when the tab closes).

const TOKEN_KEY = "cg-admin-token";

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.details = body ? body.details : null;
  }

  /** The {message, group_id, location} problems of a 422, else []. */
  get problems() {
    return Array.isArray(this.details) ? this.details.filter((d) => d && d.message) : [];
  }

  /** One line: the error and, when details are a sentence, that too. */
  get line() {
    const more = typeof this.details === "string" ? `: ${this.details}` : "";
    return `${this.message}${more}`;
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

function headers(extra = {}) {
  const t = token.get();
  return t ? {...extra, Authorization: `Bearer ${t}`} : extra;
}

/** Calls listen here for a 401, so the app can ask for the token again. */
export const unauthorised = new EventTarget();

async function send(method, path, body) {
  const init = {method, headers: headers(body === undefined ? {} : {"Content-Type": "application/json"})};
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  if (response.status === 401) unauthorised.dispatchEvent(new Event("401"));
  return response;
}

export async function api(method, path, body) {
  const response = await send(method, path, body);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = {error: text};
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path) => api("GET", path);
export const enc = encodeURIComponent;

/** Download with the token (a plain link could not send it): fetch, then save the blob. */
export async function download(path, fallbackName) {
  const response = await send("GET", path);
  if (!response.ok) {
    let data = null;
    try { data = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, data);
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = match ? match[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return link.download;
}
