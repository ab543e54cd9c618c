/* Portfolio table: client-side sorting (rank, risk, change, account) and filtering (tier,
   segments, account search). Rows carry their values in data-* attributes; nothing is fetched. */
(function () {
  "use strict";
  var table = document.getElementById("accounts");
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var filters = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var search = document.getElementById("search");
  var shownN = document.getElementById("shown-n");
  var noMatch = document.getElementById("no-match");
  /* First click sorts in the direction a CSM wants first: riskiest and biggest rise on top. */
  var FIRST_DIR = { rank: 1, account: 1, risk: -1, change: -1 };
  var state = { key: "rank", dir: 1 };

  function num(row, key) {
    var v = row.getAttribute("data-" + key);
    return v === null || v === "" ? null : parseFloat(v);
  }

  function compare(a, b) {
    var r = 0;
    if (state.key === "account") {
      var x = a.getAttribute("data-account-id"), y = b.getAttribute("data-account-id");
      r = x < y ? -1 : (x > y ? 1 : 0);
    } else {
      var p = num(a, state.key), q = num(b, state.key);
      if (p === null && q === null) { r = 0; }
      else if (p === null) { return 1; }   /* unknown values always last */
      else if (q === null) { return -1; }
      else { r = p - q; }
    }
    r = r * state.dir;
    return r !== 0 ? r : num(a, "rank") - num(b, "rank");
  }

  function sortBy(key) {
    state.dir = state.key === key ? -state.dir : FIRST_DIR[key];
    state.key = key;
    rows.sort(compare);
    var frag = document.createDocumentFragment();
    rows.forEach(function (row) { frag.appendChild(row); });
    tbody.appendChild(frag);
    Array.prototype.forEach.call(table.tHead.querySelectorAll("th[data-sort]"), function (th) {
      var on = th.getAttribute("data-sort") === key;
      th.setAttribute("aria-sort", on ? (state.dir > 0 ? "ascending" : "descending") : "none");
    });
  }

  function applyFilters() {
    var wanted = filters.map(function (sel) { return [sel.getAttribute("data-filter"), sel.value]; })
      .filter(function (f) { return f[1] !== ""; });
    var needle = search.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var ok = wanted.every(function (f) { return row.getAttribute(f[0]) === f[1]; }) &&
        (needle === "" || row.getAttribute("data-account-id").toLowerCase().indexOf(needle) !== -1);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    shownN.textContent = String(shown);
    noMatch.hidden = shown !== 0;
  }

  Array.prototype.forEach.call(table.tHead.querySelectorAll("th[data-sort] button"), function (btn) {
    btn.addEventListener("click", function () { sortBy(btn.parentNode.getAttribute("data-sort")); });
  });
  filters.forEach(function (sel) { sel.addEventListener("change", applyFilters); });
  search.addEventListener("input", applyFilters);
  document.getElementById("reset").addEventListener("click", function () {
    filters.forEach(function (sel) { sel.value = ""; });
    search.value = "";
    state = { key: "rank", dir: -1 };
    sortBy("rank");
    applyFilters();
  });
  applyFilters();
}());
