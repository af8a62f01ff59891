/* Kero dashboard: enhancements only; the page is complete without this script.
   Localised numbers (key figures from a million on shortened), tabs, the "Show all" modal (Esc
   closes it, focus returns), the period menu, and the live visitor count refreshed every 30 s.
   No inline code: the page's CSP forbids it. */
(function () {
  "use strict";
  var numbers = new Intl.NumberFormat();
  var short = new Intl.NumberFormat(undefined, { notation: "compact", maximumSignificantDigits: 3 });
  var REFRESH_MS = 30000;

  function localise(root) {
    root.querySelectorAll("data.num").forEach(function (el) {
      var value = Number(el.value);
      if (el.classList.contains("compact")) {  // 2.82M, the exact number on hover
        el.textContent = short.format(value);
        el.title = numbers.format(value);
      } else {
        el.textContent = numbers.format(value);
      }
    });
  }

  // -- tabs: the chosen panel of each card is remembered in this browser ----------------------
  function store(key, value) {
    try {
      if (value === undefined) return window.localStorage.getItem(key);
      window.localStorage.setItem(key, value);
    } catch (e) { /* storage disabled: tabs just start on the first panel */ }
    return null;
  }

  function selectTab(card, tab, focus) {
    card.querySelectorAll(".tab").forEach(function (other) {
      var chosen = other === tab;
      other.setAttribute("aria-selected", chosen ? "true" : "false");
      other.classList.toggle("active", chosen);
      other.tabIndex = chosen ? 0 : -1;
      var panel = document.getElementById(other.getAttribute("aria-controls"));
      if (panel) panel.classList.toggle("active", chosen);
    });
    if (focus) tab.focus();
    store("kero-tab-" + card.id, tab.getAttribute("aria-controls"));
  }

  function setUpTabs(card) {
    var tabs = Array.prototype.slice.call(card.querySelectorAll(".tab"));
    if (!tabs.length) return;
    card.querySelector(".tabs").setAttribute("role", "tablist");
    tabs.forEach(function (tab, i) {
      tab.setAttribute("role", "tab");
      var panel = document.getElementById(tab.getAttribute("aria-controls"));
      if (panel) panel.setAttribute("role", "tabpanel");
      tab.addEventListener("click", function (event) {
        event.preventDefault();
        selectTab(card, tab, false);
      });
      tab.addEventListener("keydown", function (event) {
        var step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (!step) return;
        event.preventDefault();
        selectTab(card, tabs[(i + step + tabs.length) % tabs.length], true);
      });
    });
    var saved = store("kero-tab-" + card.id);
    var initial = tabs.filter(function (t) { return t.getAttribute("aria-controls") === saved; })[0] || tabs[0];
    selectTab(card, initial, false);
  }

  // -- "Show all": the server renders the list; the script shows it in a modal dialog ----------
  function search(dialog) {
    var input = dialog.querySelector(".modal-search");
    if (!input) return;
    input.hidden = false;
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      dialog.querySelectorAll("tbody tr").forEach(function (row) {
        row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) === -1;
      });
    });
  }

  function showDialog(dialog, opener) {
    var closeLink = dialog.querySelector("a.close");
    dialog.removeAttribute("open"); // shown again below as a modal, without a "close" event
    document.body.appendChild(dialog);
    localise(dialog);
    search(dialog);
    closeLink.addEventListener("click", function (event) {
      event.preventDefault();
      dialog.close();
    });
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) dialog.close(); // a click on the backdrop
    });
    dialog.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") return;
      event.preventDefault(); // even from the search box, which would only clear itself
      dialog.close();
    });
    dialog.addEventListener("close", function () {
      dialog.remove();
      if (opener) {
        opener.focus();
      } else {
        history.replaceState(null, "", closeLink.href); // opened by the URL: drop ?show=
      }
    });
    dialog.showModal();
    closeLink.focus();
  }

  function openList(opener) {
    var url = new URL(opener.href);
    url.searchParams.set("partial", "modal");
    fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        var dialog = new DOMParser().parseFromString(html, "text/html").querySelector("dialog.modal");
        if (!dialog) throw new Error("no list");
        var old = document.getElementById("modal");
        if (old) old.remove();
        showDialog(document.adoptNode(dialog), opener);
      })
      .catch(function () {
        window.location.href = opener.href; // the page without script shows the list too
      });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.show-all");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    openList(link);
  });

  // -- the period menu closes on Esc and on a click elsewhere ----------------------------------
  function closeMenus(except) {
    document.querySelectorAll("details.periods[open], details.comparisons[open]").forEach(function (menu) {
      if (menu !== except) menu.open = false;
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest && event.target.closest("details.periods, details.comparisons"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = document.querySelector("details.periods[open], details.comparisons[open]");
    if (open) {
      open.open = false;
      open.querySelector("summary").focus();
    }
  });

  // -- live visitors ----------------------------------------------------------------------------
  function refreshLive(live) {
    if (document.hidden) return;
    fetch(live.getAttribute("data-url"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data || typeof data.visitors !== "number") return;
        var count = document.createElement("data");
        count.className = "num";
        count.value = String(data.visitors);
        count.textContent = numbers.format(data.visitors);
        live.replaceChildren(count, document.createTextNode(data.visitors === 1 ? " visitor" : " visitors"));
      })
      .catch(function () { /* offline for a moment: keep the last figure */ });
  }

  localise(document);
  document.querySelectorAll(".card").forEach(setUpTabs);
  var opened = document.querySelector("dialog.modal[open]");
  if (opened) showDialog(opened, null);
  var live = document.getElementById("realtime");
  if (live) window.setInterval(function () { refreshLive(live); }, REFRESH_MS);
})();
