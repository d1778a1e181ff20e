// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // After a failed submission, take keyboard and screen-reader users to the list of problems.
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }

  // On a report, offer one button that opens or closes every basis at once.
  var report = document.querySelector(".report");
  if (!report) {
    return;
  }
  var bases = report.querySelectorAll("details.basis");
  if (!bases.length) {
    return;
  }
  var button = document.createElement("button");
  button.type = "button";
  button.className = "button button-secondary button-small";
  button.id = "toggle-bases";
  function allOpen() {
    return Array.prototype.every.call(bases, function (d) { return d.open; });
  }
  function label() {
    button.textContent = allOpen() ? "Collapse every basis" : "Expand every basis";
  }
  button.addEventListener("click", function () {
    var open = !allOpen();
    Array.prototype.forEach.call(bases, function (d) { d.open = open; });
    label();
  });
  Array.prototype.forEach.call(bases, function (d) { d.addEventListener("toggle", label); });
  label();
  var actions = document.querySelector(".actions");
  if (actions) {
    actions.appendChild(button);
  }
})();
