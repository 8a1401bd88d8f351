// git agent serve: live pages. When the server says the repository's agent state changed,
// fetch this page again and put its <main> in place of ours. The new content is parsed by
// DOMParser, which runs no script; the page's policy allows no inline script anyway.
"use strict";
(function () {
  var main = document.querySelector("main[data-live]");
  if (!main || !window.EventSource) {
    return;
  }
  var busy = false;
  var again = false;
  var mark = document.getElementById("live");

  function openDetails(root) {
    var open = {};
    root.querySelectorAll("details[id], details > summary").forEach(function (el) {
      var d = el.tagName === "DETAILS" ? el : el.parentElement;
      open[d.querySelector("summary") ? d.querySelector("summary").textContent : ""] = d.open;
    });
    return open;
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    var was = openDetails(main);
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) { return; }
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.querySelector("main[data-live]");
        if (!fresh) { return; }
        fresh = document.importNode(fresh, true);
        fresh.querySelectorAll("details > summary").forEach(function (s) {
          if (Object.prototype.hasOwnProperty.call(was, s.textContent)) {
            s.parentElement.open = was[s.textContent];
          }
        });
        main.replaceWith(fresh);
        main = fresh;
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var source = new EventSource("/events?since=" + encodeURIComponent(document.body.getAttribute("data-version") || "0"));
  source.addEventListener("open", function () {
    if (mark) { mark.className = "on"; }
  });
  source.addEventListener("error", function () {
    if (mark) { mark.className = "off"; }
  });
  source.addEventListener("changed", function (e) {
    document.body.setAttribute("data-version", e.data);
    refresh();
  });
})();
