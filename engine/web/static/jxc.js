// jxc base script: small progressive enhancements; every page works without it.
(function () {
  "use strict";
  // Scripts that post with fetch() send the CSRF token as a header.
  var meta = document.querySelector('meta[name="csrf-token"]');
  window.jxc = window.jxc || {};
  window.jxc.csrfToken = meta ? meta.getAttribute("content") : "";
  window.jxc.post = function (url, body, options) {
    options = options || {};
    var headers = Object.assign({"X-CSRF-Token": window.jxc.csrfToken}, options.headers || {});
    return fetch(url, Object.assign({method: "POST", credentials: "same-origin", body: body}, options,
                                    {headers: headers}));
  };
})();
