// Calendar feeds (profile page): "Copy link" buttons. Without JavaScript the link can still be selected and copied.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".sb-copy").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.copy);
      navigator.clipboard.writeText(input.value).then(function () { button.textContent = "Copied"; });
    });
  });
});
