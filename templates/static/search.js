// Board search (Pagefind), a progressive enhancement: the box exists only once this script runs, and the
// index is fetched on first use. Results are built as DOM nodes from text, never as HTML strings.
(function () {
  "use strict";
  var script = document.currentScript;
  var box = document.getElementById("site-search");
  if (!script || !box || !window.Promise || !window.DOMParser) {
    return;
  }
  var bundle = new URL(script.getAttribute("data-pagefind"), document.baseURI).href;
  var root = new URL(script.getAttribute("data-site-root") || "./", document.baseURI).pathname;
  var input = document.getElementById("site-search-input");
  var results = document.getElementById("site-search-results");
  var pagefind = null;
  var latest = 0;

  function load() {
    if (!pagefind) {
      pagefind = import(bundle).then(function (module) {
        return Promise.resolve(module.options({ baseUrl: root })).then(function () { return module; });
      });
    }
    return pagefind;
  }

  function excerpt(html) {
    // Pagefind's excerpt marks the matched words with <mark>; keep those, take everything else as text
    var paragraph = document.createElement("p");
    var parsed = new DOMParser().parseFromString("<body>" + html + "</body>", "text/html").body;
    parsed.childNodes.forEach(function (node) {
      if (node.nodeName === "MARK") {
        var mark = document.createElement("mark");
        mark.textContent = node.textContent;
        paragraph.appendChild(mark);
      } else {
        paragraph.appendChild(document.createTextNode(node.textContent));
      }
    });
    return paragraph;
  }

  function show(items, query) {
    var status = document.createElement("p");
    status.className = "site-search__status";
    status.textContent = items.length === 0 ? "No results for \u201c" + query + "\u201d"
      : items.length + (items.length === 1 ? " result" : " results") + " for \u201c" + query + "\u201d";
    var list = document.createElement("ul");
    items.forEach(function (item) {
      var entry = document.createElement("li");
      var link = document.createElement("a");
      link.href = item.url;
      link.textContent = (item.meta && item.meta.title) || item.url;
      entry.appendChild(link);
      entry.appendChild(excerpt(item.excerpt || ""));
      list.appendChild(entry);
    });
    results.replaceChildren(status, list);
    results.hidden = false;
  }

  input.addEventListener("input", function () {
    var query = input.value.trim();
    var ticket = ++latest;
    if (!query) {
      results.replaceChildren();
      results.hidden = true;
      return;
    }
    load().then(function (module) {
      return module.debouncedSearch(query, {}, 120);
    }).then(function (search) {
      if (!search || ticket !== latest) {
        return null;  // a newer query replaced this one
      }
      return Promise.all(search.results.slice(0, 8).map(function (result) { return result.data(); }));
    }).then(function (items) {
      if (items && ticket === latest) {
        show(items, query);
      }
    }).catch(function () {
      box.hidden = true;  // no index (e.g. a build without Pagefind): no box that cannot work
    });
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      input.value = "";
      results.replaceChildren();
      results.hidden = true;
    }
  });
  box.querySelector("form").addEventListener("submit", function (event) { event.preventDefault(); });
  box.hidden = false;
})();
