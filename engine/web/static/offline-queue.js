/* The offline queue of the mobile pages: operations waiting to be sent, kept in IndexedDB so that they survive a
   reload, a closed tab or a restarted phone. Each operation has the client id that its idempotency keys are made
   from. window.jxcOfflineQueue: add(op), put(op), remove(id), all() (oldest first). */
(function () {
  "use strict";
  const DB = "jxc-offline";
  const STORE = "operations";

  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "id" });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function transaction(mode, work) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => { db.close(); resolve(request ? request.result : undefined); };
      tx.onerror = () => { db.close(); reject(tx.error); };
      tx.onabort = () => { db.close(); reject(tx.error); };
    });
  }

  window.jxcOfflineQueue = {
    add: (op) => transaction("readwrite", (store) => store.add(op)),
    put: (op) => transaction("readwrite", (store) => store.put(op)),
    remove: (id) => transaction("readwrite", (store) => store.delete(id)),
    all: () => transaction("readonly", (store) => store.getAll())
      .then((ops) => ops.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0))),
  };
})();
