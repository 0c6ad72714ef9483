// tracedoc workbench: small, dependency-free.  Every page works without it;
// this adds the byte highlighting of Packet Details, scrolling the Packet
// Summary page by page, clicking the ladder, and Query Builder rows.
(function () {
  "use strict";

  // -- Packet Details: click a line, highlight its bytes ---------------------------
  function setupDetails() {
    var tree = document.getElementById("details-tree");
    var hex = document.getElementById("hex-dump");
    if (!tree || !hex) return;
    var cells = [];
    hex.querySelectorAll("[data-i]").forEach(function (el) {
      var i = +el.getAttribute("data-i");
      (cells[i] = cells[i] || []).push(el);
    });
    var lit = [];
    function select(li) {
      lit.forEach(function (el) { el.classList.remove("hl"); });
      lit = [];
      tree.querySelectorAll("li.selected").forEach(function (el) { el.classList.remove("selected"); });
      li.classList.add("selected");
      if (li.getAttribute("data-in-frame") !== "1") return;
      var off = +li.getAttribute("data-offset"), len = +li.getAttribute("data-length");
      for (var i = off; i < off + len && i < cells.length; i++) {
        (cells[i] || []).forEach(function (el) { el.classList.add("hl"); lit.push(el); });
      }
      var first = cells[off] && cells[off][0];
      if (first && first.scrollIntoView) first.scrollIntoView({block: "nearest"});
    }
    tree.addEventListener("click", function (ev) {
      var label = ev.target.closest && ev.target.closest(".label");
      if (!label) return;
      var li = label.closest("li.node");
      if (li) select(li);
    });
    tree.addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter" && ev.key !== " ") return;
      var label = ev.target.closest && ev.target.closest(".label");
      if (label) { ev.preventDefault(); select(label.closest("li.node")); }
    });
  }

  // -- Packet Summary: fetch the next page as the table scrolls ---------------------
  var MAX_ROWS = 5000;
  function setupSummary() {
    var box = document.getElementById("summary-scroll");
    var table = document.getElementById("summary-table");
    var body = document.getElementById("summary-rows");
    if (!box || !table || !body) return;
    var busy = false;
    function more() {
      var next = +table.getAttribute("data-next"), total = +table.getAttribute("data-total");
      if (busy || next >= total) return;
      busy = true;
      var q = new URLSearchParams({offset: next, limit: table.getAttribute("data-limit")});
      if (table.getAttribute("data-filter")) q.set("filter", table.getAttribute("data-filter"));
      if (table.getAttribute("data-finding")) q.set("finding", table.getAttribute("data-finding"));
      fetch(table.getAttribute("data-rows-url") + "?" + q.toString(), {credentials: "same-origin"})
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
        .then(function (html) {
          var tmp = document.createElement("tbody");
          tmp.innerHTML = html;  // server-rendered, escaped rows
          var n = 0;
          while (tmp.firstElementChild) { body.appendChild(tmp.firstElementChild); n++; }
          table.setAttribute("data-next", next + n);
          while (body.children.length > MAX_ROWS) body.removeChild(body.firstElementChild);
          busy = false;
          if (n && box.scrollHeight <= box.clientHeight + 50) more();
        })
        .catch(function () { busy = false; });
    }
    box.addEventListener("scroll", function () {
      if (box.scrollTop + box.clientHeight > box.scrollHeight - 600) more();
    });
    var m = location.hash.match(/^#pkt-(\d+)$/);
    if (m) {
      var row = document.getElementById("pkt-" + m[1]);
      if (row) { row.classList.add("selected"); row.scrollIntoView({block: "center"}); }
    }
  }

  // -- Sequence of Execution: an arrow opens its packet ----------------------------
  function setupLadder() {
    var ladder = document.getElementById("ladder");
    var title = document.getElementById("trace-title");
    if (!ladder || !title) return;
    ladder.addEventListener("click", function (ev) {
      var g = ev.target.closest && ev.target.closest("g.packet");
      if (!g) return;
      location.href = "/traces/" + title.getAttribute("data-trace-id") + "/packet/" + g.getAttribute("data-frame");
    });
  }

  // -- Query Builder: more rows -----------------------------------------------------
  function setupQuery() {
    var add = document.getElementById("query-add-row");
    var rows = document.getElementById("query-rows");
    var tpl = document.getElementById("query-row-template");
    if (!add || !rows || !tpl) return;
    add.addEventListener("click", function () {
      var row = tpl.content.firstElementChild.cloneNode(true);
      row.setAttribute("data-row", rows.children.length);
      rows.appendChild(row);
      row.querySelector(".q-field").focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupDetails();
    setupSummary();
    setupLadder();
    setupQuery();
  });
})();
