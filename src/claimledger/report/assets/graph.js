/* The graph page: draws window.CLAIMLEDGER_GRAPH (graph-data.js) with cytoscape.js.
   Node colour = domain, size = links in and out, click = open the note's page. */
(function () {
  "use strict";
  var data = window.CLAIMLEDGER_GRAPH || { nodes: [], edges: [] };
  var palette = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2",
                 "#ca8a04", "#db2777", "#4f46e5", "#65a30d", "#0d9488", "#7c3aed"];
  var colours = {};
  data.nodes.forEach(function (n) {
    var key = n.data.type === "claim" ? n.data.domain : "(" + n.data.type + ")";
    if (!(key in colours)) { colours[key] = palette[Object.keys(colours).length % palette.length]; }
    n.data.colour = colours[key];
    n.data.size = 20 + Math.min(36, 4 * Math.sqrt(n.data.degree));
  });
  var cy = cytoscape({
    container: document.getElementById("graph"),
    elements: { nodes: data.nodes, edges: data.edges },
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: {
        "background-color": "data(colour)", "width": "data(size)", "height": "data(size)",
        "label": "data(label)", "font-size": 13, "text-wrap": "ellipsis", "text-max-width": 220,
        "color": "#1d2330", "text-valign": "bottom", "text-margin-y": 2,
        "min-zoomed-font-size": 5 } },
      { selector: "node[type != 'claim']", style: { "shape": "round-rectangle" } },
      { selector: "node[status = 'retired']", style: { "opacity": 0.45 } },
      { selector: "edge", style: { "width": 1, "line-color": "#cbd5e1", "curve-style": "bezier",
        "target-arrow-shape": "triangle", "target-arrow-color": "#cbd5e1", "arrow-scale": 0.6 } },
      { selector: "edge[kind = 'depends_on']", style: { "line-color": "#2563eb", "target-arrow-color": "#2563eb", "width": 1.6 } },
      { selector: "edge[kind = 'challenged_by']", style: { "line-color": "#dc2626", "target-arrow-color": "#dc2626", "line-style": "dashed", "width": 1.6 } },
      { selector: "edge[kind = 'source-of']", style: { "line-color": "#16a34a", "target-arrow-color": "#16a34a" } },
      { selector: ".faded", style: { "opacity": 0.12 } },
      { selector: ".hit", style: { "border-width": 3, "border-color": "#111" } }
    ],
    layout: { name: "cose", animate: false, randomize: false, nodeRepulsion: 400000,
              idealEdgeLength: 110, nodeOverlap: 40, componentSpacing: 80, gravity: 0.6,
              numIter: 2000, padding: 20 }
  });
  var legend = document.getElementById("graph-legend");
  Object.keys(colours).forEach(function (key) {
    var item = document.createElement("span");
    item.className = "legend-item";
    item.innerHTML = '<span class="swatch"></span>';
    item.firstChild.style.background = colours[key];
    item.appendChild(document.createTextNode(key));
    legend.appendChild(item);
  });
  cy.on("tap", "node", function (event) { window.location.href = event.target.data("href"); });
  var status = document.getElementById("graph-status");
  status.textContent = cy.nodes().length + " notes, " + cy.edges().length + " edges";
  document.getElementById("graph-search").addEventListener("input", function (event) {
    var words = event.target.value.toLowerCase().split(/\s+/).filter(Boolean);
    cy.elements().removeClass("faded hit");
    if (!words.length) { return; }
    var hits = cy.nodes().filter(function (n) {
      var label = n.data("label").toLowerCase();
      return words.every(function (w) { return label.indexOf(w) >= 0; });
    });
    cy.elements().not(hits.closedNeighborhood()).addClass("faded");
    hits.addClass("hit");
    status.textContent = hits.length + " match";
  });
  window.claimledgerGraph = cy;  // for tests and the browser console
})();
