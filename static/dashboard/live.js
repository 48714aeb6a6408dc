// The topbar's live dot: green while the dashboard's websocket is open (htmx ws extension).
document.addEventListener("htmx:wsOpen", function () {
  var dot = document.getElementById("live-dot");
  if (dot) dot.classList.add("connected");
  document.documentElement.dataset.live = "connected";
});
document.addEventListener("htmx:wsClose", function () {
  var dot = document.getElementById("live-dot");
  if (dot) dot.classList.remove("connected");
  document.documentElement.dataset.live = "disconnected";
});
