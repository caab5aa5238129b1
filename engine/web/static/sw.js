/* The service worker of the mobile pages (served at /sw.js, scope /): the scan pages and their assets come from
   the network when it answers and from the cache when it does not, so a page opens offline. Nothing that changes
   data goes through here: the pages queue their operations themselves (offline-queue.js). */
const CACHE = "jxc-mobile-v1";
const PRECACHE = ["/m", "/m/receive", "/m/pick", "/m/count", "/m/items", "/static/jxc.css", "/static/jxc.js",
  "/static/mobile.js", "/static/offline-queue.js"];

self.addEventListener("install", (event) => {
  // a page the user may not open (403/404) is simply not cached
  event.waitUntil(caches.open(CACHE).then((cache) => Promise.all(
    PRECACHE.map((url) => cache.add(url).catch(() => undefined)))).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});

function cached(url) {
  return url.origin === self.location.origin && url.pathname !== "/m/scan" &&
    (url.pathname === "/m" || url.pathname.startsWith("/m/") || url.pathname.startsWith("/static/"));
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin === self.location.origin && url.pathname === "/login") {
    event.waitUntil(caches.delete(CACHE));  // logged out: the next user of the phone does not get these pages
    return;
  }
  if (request.method !== "GET" || !cached(url)) return;  // the network, as without a service worker
  event.respondWith(fetch(request).then((answer) => {
    if (answer.ok && !answer.redirected) {  // never keep the login page in place of a scan page
      const copy = answer.clone();
      caches.open(CACHE).then((cache) => cache.put(request, copy));
    }
    return answer;
  }).catch(() => caches.match(request).then((hit) => hit || Response.error())));
});
