// Small enhancements; every page works without them.
(function () {
  "use strict";

  // Filters and pickers apply as soon as they are picked with a pointer. From the
  // keyboard, arrow keys change a closed select or a radio at every step, so there
  // the Apply (or Save) button applies the choice instead.
  var byKeyboard = false;
  document.addEventListener("keydown", function () { byKeyboard = true; }, true);
  document.addEventListener("pointerdown", function () { byKeyboard = false; }, true);
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!el.matches || !el.matches("[data-autosubmit]") || byKeyboard) return;
    if (el.name === "theme") document.documentElement.setAttribute("data-theme", el.value);
    var form = el.form;
    if (!form) return;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });

  // Copy buttons: data-copy names the element whose text is copied.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // Destructive forms ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // Menus (bell, account) close on a click elsewhere or on Escape.
  function closeMenus(except) {
    document.querySelectorAll("details.bell[open], details.user-menu[open]").forEach(function (d) {
      if (d !== except) d.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest && event.target.closest("details"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });

  // Onboarding: wait for the first event.
  var live = document.querySelector("[data-live-check]");
  if (live && window.fetch) {
    var url = live.getAttribute("data-live-check");
    var text = live.querySelector(".live-text");
    var poll = function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { received: false }; })
        .then(function (status) {
          if (status.received) {
            live.classList.add("ok");
            text.textContent = "Your first event arrived. ";
            var link = document.createElement("a");
            link.href = "/";
            link.textContent = "Open the overview";
            text.appendChild(link);
          } else {
            setTimeout(poll, 3000);
          }
        })
        .catch(function () { setTimeout(poll, 5000); });
    };
    poll();
  }
})();
