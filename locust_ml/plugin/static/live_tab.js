// locust-ml: the live latency-vs-throughput plot above the "ML steps" table.
//
// Locust's extended tabs show tables of text; this script, added to Locust's
// page by locust_ml/plugin/liveplot.py, puts a picture beside ours. Every 2 s
// it asks live.json for the plot's version and the test's state, and reloads
// live.svg (an <img>: the SVG cannot run anything) when a step has ended.
// It relies on two things of Locust's page: the ?tab=<key> query parameter
// its tabs set, and the tab's <table>. If either changes, the plot is still
// at live (a page of its own, linked from the Reports tab).
(function () {
  "use strict";
  var here = document.currentScript ? document.currentScript.src : window.location.href;
  var TAB = "locust-ml-steps";
  var ID = "locust-ml-live-plot";
  var info = null;

  function url(name) {
    return new URL(name, here).toString();
  }

  function onOurTab() {
    return new URLSearchParams(window.location.search).get("tab") === TAB;
  }

  function build() {
    var fig = document.createElement("figure");
    fig.id = ID;
    fig.style.cssText = "margin:8px 0 16px;max-width:960px";
    var img = document.createElement("img");
    img.alt = "latency vs throughput, one point per step";
    img.style.cssText =
      "width:100%;aspect-ratio:15/8;object-fit:contain;background:#fff;border:1px solid #d0d7de";
    var caption = document.createElement("figcaption");
    caption.style.cssText = "font:14px sans-serif;margin-top:4px";
    var state = document.createElement("span");
    state.className = "locust-ml-state";
    var link = document.createElement("a");
    link.href = url("live");
    link.target = "_blank";
    link.textContent = "open the plot on its own page";
    link.style.marginLeft = "1em";
    caption.appendChild(state);
    caption.appendChild(link);
    fig.appendChild(img);
    fig.appendChild(caption);
    return fig;
  }

  function place() {
    var fig = document.getElementById(ID);
    if (!onOurTab()) {
      if (fig) fig.remove();
      return;
    }
    var table = document.querySelector("table");
    if (!table) return;
    var anchor = table.closest(".MuiTableContainer-root") || table;
    if (!fig) fig = build();
    if (anchor.previousSibling !== fig) anchor.parentNode.insertBefore(fig, anchor);
    if (info) {
      // Only real changes: each write is a mutation, which calls place() again.
      var state = fig.querySelector(".locust-ml-state");
      if (state.textContent !== info.state) state.textContent = info.state;
      var img = fig.querySelector("img");
      var src = url("live.svg") + "?v=" + encodeURIComponent(info.version);
      if (img.getAttribute("src") !== src) img.setAttribute("src", src);
    }
  }

  function refresh() {
    fetch(url("live.json"), { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) {
          info = data;
          place();
        }
      })
      .catch(function () {});
  }

  new MutationObserver(place).observe(document.body, { childList: true, subtree: true });
  window.addEventListener("popstate", place);
  refresh();
  window.setInterval(refresh, 2000);
})();
