/* Portfolio table: client-side sorting (rank, risk, change, account) and filtering (tier,
   segments, account search). Rows carry their values in data-* attributes; nothing is fetched.
   Only the first `data-page-size` matching rows are laid out ("Show more" adds a page): laying
   out 10k table rows with their sparklines takes seconds, hidden rows cost nothing. */
(function () {
  "use strict";
  var table = document.getElementById("accounts");
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var filters = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var search = document.getElementById("search");
  var shownN = document.getElementById("shown-n");
  var noMatch = document.getElementById("no-match");
  var more = document.getElementById("show-more");
  var pageNote = document.getElementById("page-note");
  var listedN = document.getElementById("listed-n");
  var PAGE = parseInt(table.getAttribute("data-page-size"), 10);
  var limit = PAGE;
  /* First click sorts in the direction a CSM wants first: riskiest and biggest rise on top. */
  var FIRST_DIR = { rank: 1, account: 1, risk: -1, change: -1 };
  var state = { key: "rank", dir: 1 };

  function num(row, key) {
    var v = row.getAttribute("data-" + key);
    return v === null || v === "" ? null : parseFloat(v);
  }
  /* Sort keys are read from the DOM once, not on each of the n log n comparisons. */
  var keys = new Map();
  rows.forEach(function (row) {
    keys.set(row, { rank: num(row, "rank"), risk: num(row, "risk"), change: num(row, "change"),
                    account: row.getAttribute("data-account-id") });
  });

  function compare(a, b) {
    var ka = keys.get(a), kb = keys.get(b), p = ka[state.key], q = kb[state.key], r = 0;
    if (p === null && q === null) { r = 0; }
    else if (p === null) { return 1; }   /* unknown values always last */
    else if (q === null) { return -1; }
    else if (state.key === "account") { r = p < q ? -1 : (p > q ? 1 : 0); }
    else { r = p - q; }
    r = r * state.dir;
    return r !== 0 ? r : ka.rank - kb.rank;
  }

  function sortBy(key) {
    state.dir = state.key === key ? -state.dir : FIRST_DIR[key];
    state.key = key;
    rows.sort(compare);
    /* Build the new body off-document and swap it in: one layout instead of one per row. */
    var fresh = tbody.cloneNode(false);
    rows.forEach(function (row) { fresh.appendChild(row); });
    table.replaceChild(fresh, tbody);
    tbody = fresh;
    applyFilters();
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
        (needle === "" || keys.get(row).account.toLowerCase().indexOf(needle) !== -1);
      var listed = ok && shown < limit;
      if (row.hidden === listed) { row.hidden = !listed; }
      if (ok) { shown += 1; }
    });
    shownN.textContent = String(shown);
    noMatch.hidden = shown !== 0;
    more.hidden = shown <= limit;
    pageNote.hidden = shown <= limit;
    listedN.textContent = String(Math.min(limit, shown));
  }

  function refilter() { limit = PAGE; applyFilters(); }

  Array.prototype.forEach.call(table.tHead.querySelectorAll("th[data-sort] button"), function (btn) {
    btn.addEventListener("click", function () { sortBy(btn.parentNode.getAttribute("data-sort")); });
  });
  filters.forEach(function (sel) { sel.addEventListener("change", refilter); });
  search.addEventListener("input", refilter);
  more.addEventListener("click", function () { limit += PAGE; applyFilters(); });
  document.getElementById("reset").addEventListener("click", function () {
    filters.forEach(function (sel) { sel.value = ""; });
    search.value = "";
    state = { key: "rank", dir: -1 };
    limit = PAGE;
    sortBy("rank");
  });
  applyFilters();
}());
