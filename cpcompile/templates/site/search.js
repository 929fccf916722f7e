(function () {
  "use strict";
  // Entries are [kind, title, id, detail, url]; url is relative and made from ids by the site.
  var entries = JSON.parse(document.getElementById("search-data").textContent);
  var input = document.getElementById("q");
  var list = document.getElementById("results");
  var status = document.getElementById("search-status");
  var limit = Number(list.getAttribute("data-limit")) || 50;
  var haystacks = entries.map(function (e) { return (e[1] + " " + e[2] + " " + e[3]).toLowerCase(); });

  function item(entry) {
    var li = document.createElement("li");
    var link = document.createElement("a");
    link.setAttribute("href", entry[4]);
    link.textContent = entry[1];
    var kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = entry[0] + " · " + entry[3];
    li.appendChild(link);
    li.appendChild(kind);
    return li;
  }

  function search() {
    var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    list.textContent = "";
    if (terms.length === 0) {
      status.textContent = "";
      return;
    }
    var found = 0;
    for (var i = 0; i < entries.length; i++) {
      var hay = haystacks[i];
      if (terms.every(function (t) { return hay.indexOf(t) !== -1; })) {
        found++;
        if (found <= limit) {
          list.appendChild(item(entries[i]));
        }
      }
    }
    status.textContent = found === 0 ? "Nothing found."
      : found > limit ? found + " found, the first " + limit + " shown." : found + " found.";
  }

  input.addEventListener("input", search);
  input.disabled = false;
  if (input.value) {
    search();
  }
}());
