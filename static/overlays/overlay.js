// Concord overlay runtime: stage scaling, text fitting and the websocket connection manager.
// No cookies, no storage, no requests besides the websocket.
(function () {
  "use strict";

  var STAGE_W = 1920, STAGE_H = 1080;

  // ---------------------------------------------------------------- ConcordStream
  var BACKOFF_BASE = 500, BACKOFF_CAP = 10000, STABLE_AFTER = 10000;
  var WATCHDOG_MS = 40000, ACK_EVERY = 5000, ACK_MIN_GAP = 1000, SEEN_MAX = 2000;

  function ConcordStream(url, handlers) {
    this.url = url;
    this.handlers = handlers || {};
    this.lastSeq = null;        // highest event seq received (from "event" and "hello")
    this.connected = false;
    this.latencyMs = null;      // receive time - event.at of the latest event
    this.attempt = 0;
    this.ws = null;
    this._seen = new Set();
    this._reconnectTimer = null;
    this._stableTimer = null;
    this._watchdog = null;
    this._ackInterval = null;
    this._ackTimer = null;
    this._lastAckAt = 0;
    this._stopped = false;
    var self = this;
    window.addEventListener("online", function () {
      if (!self.ws && self._reconnectTimer) { clearTimeout(self._reconnectTimer); self._reconnectTimer = null; self.connect(); }
    });
    this.connect();
  }

  ConcordStream.prototype.socketUrl = function () {
    var url = this.url;
    if (this.lastSeq !== null) url += (url.indexOf("?") === -1 ? "?" : "&") + "after=" + encodeURIComponent(this.lastSeq);
    if (/^wss?:\/\//.test(url)) return url;
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + url;
  };

  ConcordStream.prototype._call = function (name, arg) {
    var fn = this.handlers[name];
    if (typeof fn !== "function") return;
    try { fn(arg); } catch (e) { if (window.console) console.error("ConcordStream handler " + name + " failed", e); }
  };

  ConcordStream.prototype._setStatus = function (connected) {
    if (this.connected === connected) return;
    this.connected = connected;
    this._call("onStatus", connected);
  };

  ConcordStream.prototype.connect = function () {
    if (this._stopped) return;
    this._reconnectTimer = null;
    var self = this, ws;
    try {
      ws = new WebSocket(this.socketUrl());
    } catch (e) {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    this._kickWatchdog(); // also covers a socket stuck in CONNECTING
    ws.onopen = function () {
      if (self.ws !== ws) return;
      self._kickWatchdog();
      // Not "connected" yet: the server accepts every socket, then closes a bad or revoked
      // token's (4401/4403). Its "hello" says the stream is on.
      clearTimeout(self._stableTimer);
      self._stableTimer = setTimeout(function () { self.attempt = 0; }, STABLE_AFTER);
      clearInterval(self._ackInterval);
      self._ackInterval = setInterval(function () { self.sendAck(); }, ACK_EVERY);
    };
    ws.onmessage = function (ev) {
      if (self.ws !== ws) return;
      self._kickWatchdog();
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg && typeof msg === "object") self._handle(msg);
    };
    ws.onerror = function () { self._drop(ws); };
    ws.onclose = function () { self._drop(ws); };
  };

  ConcordStream.prototype._handle = function (msg) {
    switch (msg.type) {
      case "event": {
        var seq = Number(msg.seq);
        if (this._seen.has(seq)) return; // duplicate (replay overlap)
        this._remember(seq);
        if (this.lastSeq === null || seq > this.lastSeq) this.lastSeq = seq;
        var at = Date.parse(msg.at);
        if (!isNaN(at)) this.latencyMs = Math.max(0, Date.now() - at);
        this._call("onEvent", msg);
        this._ackSoon();
        return;
      }
      case "hello":
        if (typeof msg.seq === "number" && (this.lastSeq === null || msg.seq > this.lastSeq)) this.lastSeq = msg.seq;
        this._setStatus(true);
        this._call("onHello", msg);
        return;
      case "leaderboard": this._call("onLeaderboard", msg); return;
      case "ticker": this._call("onTicker", msg); return;
      case "tournament": this._call("onTournament", msg); return;
      case "reload": location.reload(); return;
      case "ping": return; // only feeds the watchdog
      default: return;
    }
  };

  ConcordStream.prototype._remember = function (seq) {
    this._seen.add(seq);
    if (this._seen.size > SEEN_MAX) {
      // Sets iterate in insertion order: drop the oldest quarter.
      var n = SEEN_MAX / 4, it = this._seen.values();
      while (n-- > 0) this._seen.delete(it.next().value);
    }
  };

  ConcordStream.prototype.sendAck = function () {
    var ws = this.ws;
    if (!ws || ws.readyState !== 1 || this.lastSeq === null) return;
    clearTimeout(this._ackTimer);
    this._ackTimer = null;
    this._lastAckAt = Date.now();
    try {
      ws.send(JSON.stringify({ type: "ack", seq: this.lastSeq, latency_ms: this.latencyMs }));
    } catch (e) { /* the close handler reconnects */ }
  };

  // After an event: ack now, or at most once per second (trailing send).
  ConcordStream.prototype._ackSoon = function () {
    if (this._ackTimer) return;
    var wait = this._lastAckAt + ACK_MIN_GAP - Date.now(), self = this;
    if (wait <= 0) this.sendAck();
    else this._ackTimer = setTimeout(function () { self._ackTimer = null; self.sendAck(); }, wait);
  };

  ConcordStream.prototype._kickWatchdog = function () {
    var self = this, ws = this.ws;
    clearTimeout(this._watchdog);
    this._watchdog = setTimeout(function () { self._drop(ws); }, WATCHDOG_MS);
  };

  // Tear down one socket (idempotent) and schedule a reconnect. State (lastSeq, screen) is kept.
  ConcordStream.prototype._drop = function (ws) {
    if (!ws || this.ws !== ws) return;
    this.ws = null;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try { ws.close(); } catch (e) { /* ignore */ }
    clearTimeout(this._watchdog);
    clearTimeout(this._stableTimer);
    clearInterval(this._ackInterval);
    clearTimeout(this._ackTimer);
    this._ackTimer = null;
    this._setStatus(false);
    this._scheduleReconnect();
  };

  ConcordStream.prototype._scheduleReconnect = function () {
    if (this._stopped || this._reconnectTimer) return;
    var delay = Math.min(BACKOFF_CAP, BACKOFF_BASE * Math.pow(2, this.attempt));
    this.attempt = Math.min(this.attempt + 1, 30);
    var self = this;
    this._reconnectTimer = setTimeout(function () { self.connect(); }, Math.random() * delay);
  };

  ConcordStream.prototype.close = function () {
    this._stopped = true;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    this._drop(this.ws);
  };

  window.ConcordStream = ConcordStream;

  // ---------------------------------------------------------------- Stage helpers
  var stage = null;

  function fitStage() {
    if (!stage) return;
    var s = Math.min(window.innerWidth / STAGE_W, window.innerHeight / STAGE_H);
    if (!(s > 0)) s = 1;
    stage.style.transform = "scale(" + s + ")";
  }

  // Current visual scale of the stage (for converting screen px to stage px).
  function stageScale() {
    if (!stage) return 1;
    var w = stage.getBoundingClientRect().width;
    return w > 0 ? w / STAGE_W : 1;
  }

  // Shrink an overflowing single-line element's font down to minRatio of its CSS size;
  // anything still too long is cut with the CSS ellipsis.
  function fitText(el, minRatio) {
    if (!el) return;
    minRatio = minRatio || 0.6;
    el.style.fontSize = "";
    var base = parseFloat(getComputedStyle(el).fontSize) || 16;
    if (el.scrollWidth <= el.clientWidth + 1 || el.clientWidth === 0) return;
    var size = Math.max(base * minRatio, Math.floor(base * el.clientWidth / el.scrollWidth));
    el.style.fontSize = size + "px";
    while (el.scrollWidth > el.clientWidth + 1 && size > base * minRatio) {
      size = Math.max(base * minRatio, size - Math.max(1, base * 0.03));
      el.style.fontSize = size + "px";
    }
  }

  function formatNumber(n) {
    n = Math.round(Number(n) || 0);
    var s = String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (n < 0 ? "-" : "") + s;
  }

  // Wire the stage's websocket: reads data-ws-url, manages the .conn dot, exposes window.concordOverlay.
  function start(handlers) {
    handlers = handlers || {};
    if (!stage) init();
    if (!stage) throw new Error("overlay: #stage not found");
    if (window.concordOverlay && window.concordOverlay.stream) return window.concordOverlay.stream;
    var conn = stage.querySelector(".conn");
    if (!conn) {
      conn = document.createElement("div");
      conn.className = "conn";
      conn.setAttribute("aria-hidden", "true");
      stage.appendChild(conn);
    }
    var userStatus = handlers.onStatus;
    handlers.onStatus = function (connected) {
      stage.classList.toggle("connected", connected);
      stage.dataset.connected = connected ? "1" : "0";
      if (typeof userStatus === "function") userStatus(connected);
    };
    var stream = new ConcordStream(stage.dataset.wsUrl || "/ws/stream/", handlers);
    window.concordOverlay = {
      stream: stream,
      lastSeq: function () { return stream.lastSeq; },
      connected: function () { return stream.connected; }
    };
    return stream;
  }

  function init() {
    stage = document.getElementById("stage");
    if (!stage) return;
    // ?accent=#rrggbb (validated by the server): highlights in the streamer's colour.
    if (/^#[0-9a-f]{3}([0-9a-f]{3})?$/.test(stage.dataset.accent || "")) {
      stage.style.setProperty("--accent", stage.dataset.accent);
    }
    fitStage();
  }

  window.addEventListener("resize", fitStage);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();

  window.ConcordOverlay = {
    start: start,
    fitText: fitText,
    fitStage: fitStage,
    stageScale: stageScale,
    formatNumber: formatNumber,
    stage: function () { return stage; }
  };
})();
