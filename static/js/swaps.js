// Offer wizard: show the colleague checkboxes only when "Only the people I tick" is chosen (progressive
// enhancement: without JavaScript the list is simply always visible).
document.addEventListener("DOMContentLoaded", function () {
  var people = document.getElementById("offer-people");
  var radios = document.querySelectorAll(".sb-offer-to");
  if (!people || !radios.length) { return; }
  function sync() {
    var chosen = document.getElementById("to-chosen");
    people.classList.toggle("sb-offer-people--hidden", !(chosen && chosen.checked));
  }
  radios.forEach(function (r) { r.addEventListener("change", sync); });
  sync();
});
