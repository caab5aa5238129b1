// Record forms (templates/form.html): rows added, removed and reordered in place, link boxes that search as the
// user types (/lookup/<entity>?q=), and the live round-trip: the draft is posted to the form's compute URL,
// where the server runs the very steps of a save without writing, and its computed values, problems by field
// and visible_if / required_if results are put back on the page. Without this script the form still works:
// every save goes to the server, which answers the same way.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var ROW_PATH = /^([a-z][a-z0-9_]*)\[([^\]]+)\](.*)$/;

  function each(selector, scope, fn) {
    Array.prototype.forEach.call((scope || document).querySelectorAll(selector), fn);
  }

  // --- rows ---------------------------------------------------------------------------------------------------

  var RENAMED = ["name", "id", "for", "data-field", "data-errors-for", "data-value", "data-path", "aria-describedby"];

  function renumber(tbody) {
    var table = tbody.getAttribute("data-rows");
    var pattern = new RegExp("(^|-)" + table + "\\[[^\\]]+\\]");
    each(":scope > tr", tbody, function (tr, index) {
      tr.setAttribute("data-row", String(index));
      var number = tr.querySelector("td.row-no");
      if (number && number.firstChild && number.firstChild.nodeType === 3) {
        number.firstChild.nodeValue = String(index + 1);
      }
      each("*", tr, function (element) {
        RENAMED.forEach(function (attribute) {
          var value = element.getAttribute(attribute);
          if (value && pattern.test(value)) {
            element.setAttribute(attribute, value.replace(pattern, "$1" + table + "[" + index + "]"));
          }
        });
      });
    });
  }

  function addRow(table) {
    var template = document.querySelector('template[data-row-template="' + table + '"]');
    var tbody = document.querySelector('tbody[data-rows="' + table + '"]');
    if (!template || !tbody) return;
    var fragment = template.content.cloneNode(true);
    var row = fragment.querySelector("tr");
    var number = row.querySelector("td.row-no");
    if (number) number.insertBefore(document.createTextNode(""), number.firstChild);
    tbody.appendChild(fragment);
    renumber(tbody);
    enhance(row);
    var first = row.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  }

  function rowAction(event) {
    var button = event.target.closest("[data-move], [data-remove-row]");
    if (!button) return;
    var tr = button.closest("tr");
    var tbody = tr.parentNode;
    if (button.hasAttribute("data-remove-row")) {
      tbody.removeChild(tr);
    } else if (button.getAttribute("data-move") === "-1" && tr.previousElementSibling) {
      tbody.insertBefore(tr, tr.previousElementSibling);
    } else if (button.getAttribute("data-move") === "1" && tr.nextElementSibling) {
      tbody.insertBefore(tr.nextElementSibling, tr);
    }
    renumber(tbody);
    schedule();
  }

  // --- link boxes ---------------------------------------------------------------------------------------------

  function closeList(box) {
    var list = box.querySelector(".lookup-list");
    if (list) box.removeChild(list);
  }

  function choose(box, item) {
    var text = box.querySelector(".link-text");
    if (box.hasAttribute("data-many")) {
      var chip = document.createElement("label");
      chip.className = "chip";
      var check = document.createElement("input");
      check.type = "checkbox";
      check.name = box.getAttribute("data-path");
      check.value = String(item.id);
      check.checked = true;
      chip.appendChild(check);
      chip.appendChild(document.createTextNode(" " + item.title));
      box.insertBefore(chip, text);
      text.value = "";
    } else {
      box.querySelector("[data-link-id]").value = String(item.id);
      text.value = item.title;
    }
    closeList(box);
    touched[box.getAttribute("data-path")] = true;
    schedule();
  }

  function showList(box, items) {
    closeList(box);
    var list = document.createElement("ul");
    list.className = "lookup-list";
    list.setAttribute("role", "listbox");
    items.forEach(function (item, index) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", index === 0 ? "true" : "false");
      li.textContent = item.title;
      li.addEventListener("mousedown", function (event) {
        event.preventDefault();
        choose(box, item);
      });
      li._item = item;
      list.appendChild(li);
    });
    if (!items.length) {
      var none = document.createElement("li");
      none.textContent = "—";
      list.appendChild(none);
    }
    box.appendChild(list);
  }

  var asked = 0;

  function lookup(box) {
    var text = box.querySelector(".link-text").value.trim();
    var url = box.getAttribute("data-lookup") + "?q=" + encodeURIComponent(text);
    var ticket = ++asked;  // only the answer to the latest question is shown
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (items) { if (ticket === asked) showList(box, items); })
      .catch(function () { closeList(box); });
  }

  function linkKeys(event) {
    var box = event.target.closest(".link-box");
    var list = box && box.querySelector(".lookup-list");
    if (!list) return;
    var options = Array.prototype.slice.call(list.querySelectorAll("li[role=option]"));
    var current = options.findIndex(function (li) { return li.getAttribute("aria-selected") === "true"; });
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var next = current + (event.key === "ArrowDown" ? 1 : -1);
      if (next < 0 || next >= options.length) return;
      options.forEach(function (li, index) { li.setAttribute("aria-selected", index === next ? "true" : "false"); });
    } else if (event.key === "Enter" && current >= 0) {
      event.preventDefault();
      choose(box, options[current]._item);
    } else if (event.key === "Escape") {
      closeList(box);
    }
  }

  var lookupTimer = null;

  function enhance(scope) {
    each(".js-only, [data-add-row]", scope, function (element) { element.hidden = false; });
    each(".link-box .link-text", scope, function (input) {
      var box = input.closest(".link-box");
      input.addEventListener("input", function () {
        var id = box.querySelector("[data-link-id]");
        if (id) id.value = "";
        clearTimeout(lookupTimer);
        lookupTimer = setTimeout(function () { lookup(box); }, 250);
      });
      input.addEventListener("focus", function () { if (!input.value) lookup(box); });
      input.addEventListener("keydown", linkKeys);
      input.addEventListener("blur", function () { setTimeout(function () { closeList(box); }, 150); });
    });
  }

  // --- the live round-trip ------------------------------------------------------------------------------------

  var form = document.getElementById("record-form");
  var touched = {};
  var showAll = !!document.querySelector(".has-error, .record-errors:not([hidden])");
  var timer = null;
  var sent = 0;

  function serverPath(path, rows) {
    var found = ROW_PATH.exec(path);
    if (!found || !rows[found[1]]) return path;
    var index = rows[found[1]][found[2]];
    return index === undefined ? null : found[1] + "[" + index + "]" + found[3];
  }

  function showErrors(element, messages) {
    element.innerHTML = "";
    (messages || []).forEach(function (message) {
      var li = document.createElement("li");
      li.textContent = message;
      element.appendChild(li);
    });
    element.hidden = !messages || !messages.length;
    var holder = element.closest(".field, td, tr, .table-field");
    if (holder) holder.classList.toggle("has-error", !element.hidden);
  }

  function apply(answer) {
    var rows = answer.rows || {};
    var hidden = {}, required = {};
    (answer.hidden || []).forEach(function (path) { hidden[path] = true; });
    (answer.required || []).forEach(function (path) { required[path] = true; });
    each("[data-value]", form, function (output) {
      var path = serverPath(output.getAttribute("data-value"), rows);
      var value = path !== null && answer.values[path];
      if (value) output.textContent = value.shown;
    });
    each("input[name], select[name], textarea[name]", form, function (input) {
      if (input.type === "hidden" || input.type === "checkbox" || input.value !== "" || touched[input.name]) return;
      var path = serverPath(input.name, rows);
      var value = path !== null && answer.values[path];
      if (value && value.text && !/__text$/.test(input.name)) input.value = value.text;  // a default, shown
    });
    each("[data-errors-for]", form.parentNode, function (list) {
      var own = list.getAttribute("data-errors-for");
      if (own === "" && !showAll) return;
      var path = serverPath(own, rows);
      if (!showAll && !touched[own] && !touched[own + "__text"]) return;
      showErrors(list, path === null ? [] : answer.errors[path]);
    });
    each("[data-field]", form, function (element) {
      var path = serverPath(element.getAttribute("data-field"), rows);
      if (path === null) return;
      if (element.classList.contains("field")) {
        element.hidden = !!hidden[path];
        element.classList.toggle("is-required", !!required[path]);
      } else if (element.tagName === "TD") {
        element.style.visibility = hidden[path] ? "hidden" : "";
      }
    });
  }

  function compute() {
    var url = form.getAttribute("data-compute");
    var ticket = ++sent;
    window.jxc.post(url, new FormData(form), {headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) { if (answer && ticket === sent) apply(answer); })
      .catch(function () { /* offline or refused: the save will tell */ });
  }

  function schedule() {
    if (!form || form.hasAttribute("data-readonly")) return;
    clearTimeout(timer);
    timer = setTimeout(compute, 300);
  }

  if (form && !form.hasAttribute("data-readonly")) {
    form.addEventListener("input", function (event) {
      if (event.target.name) touched[event.target.name] = true;
      if (!event.target.classList.contains("link-text")) schedule();
    });
    form.addEventListener("change", function (event) {
      if (event.target.name) touched[event.target.name] = true;
      schedule();
    });
    form.addEventListener("click", rowAction);
    form.addEventListener("submit", function () { showAll = true; });
    each("[data-add-row]", form, function (button) {
      button.addEventListener("click", function () { addRow(button.getAttribute("data-add-row")); });
    });
    enhance(form);
  }

  each(".doc-actions form", document, function (action) {
    enhance(action);
    var question = action.getAttribute("data-confirm");
    if (question) {
      action.addEventListener("submit", function (event) {
        if (!window.confirm(question)) event.preventDefault();
      });
    }
  });
})();
