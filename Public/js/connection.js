// The WebSocket to /v1/ws (PROTOCOL.md §4): authenticates with the first
// frame, matches replies to requests by id/re, and reconnects with
// exponential backoff and full jitter until it is stopped.

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15_000;
const BANNED_RETRY_MIN_MS = 60_000;
const SILENCE_MS = 30_000;
const PONG_WAIT_MS = 10_000;

// A request that can no longer be answered because its socket closed.
export class ConnectionClosed extends Error {
  constructor() {
    super('The connection closed before the server answered.');
    this.code = 'connection_closed';
  }
}

// An `error` frame sent in reply to one of our frames.
export class FrameError extends Error {
  constructor(frame) {
    super(frame.message);
    this.code = frame.code;
    this.retryAfterMs = frame.retry_after_ms;
  }
}

export class Connection {
  // handlers: onFrame(frame) for events, onStatus(state, detail),
  // onSessionEnded() after 4401.
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.token = null;
    this.ready = false;
    this.everReady = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.nextId = 1;
    this.pending = new Map();
    this.lastHeard = 0;
    this.watchTimer = null;
  }

  start(token) {
    this.token = token;
    this.open();
    this.watch();
  }

  stop() {
    this.token = null;
    clearTimeout(this.retryTimer);
    clearInterval(this.watchTimer);
    const socket = this.socket;
    this.detach();
    socket?.close(1000);
    this.everReady = false;
    this.attempt = 0;
  }

  // Sends a frame that gets a reply; resolves with the reply, rejects with a
  // FrameError or ConnectionClosed.
  request(frame) {
    if (!this.ready) return Promise.reject(new ConnectionClosed());
    const id = `c${this.nextId++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ ...frame, id }));
    });
  }

  // Sends a frame that gets no reply on success (typing). False when offline.
  notify(frame) {
    if (!this.ready) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  open() {
    this.offline();
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(`${scheme}//${location.host}/v1/ws`);
    this.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: 'auth', token: this.token }));
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = (event) => this.closed(event);
  }

  receive(frame) {
    this.lastHeard = performance.now();
    if (frame.type === 'ready') {
      this.ready = true;
      this.everReady = true;
      this.attempt = 0;
      this.status('connected');
    } else if (frame.type === 'notice' && frame.code === 'draining') {
      // Requests after the notice are ignored by the server: stop sending and
      // wait for its close (acks of sends in flight still arrive before it).
      this.ready = false;
    }
    const waiter = frame.re != null ? this.pending.get(frame.re) : undefined;
    if (waiter) {
      this.pending.delete(frame.re);
      if (frame.type === 'error') waiter.reject(new FrameError(frame));
      else waiter.resolve(frame);
      return;
    }
    this.handlers.onFrame(frame);
  }

  closed(event) {
    this.detach();
    if (!this.token) return;
    if (event.code === 4401) {
      this.handlers.onSessionEnded();
      return;
    }
    let delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt += 1;
    if (event.code === 4403) {
      // Banned: the reason names the end of the ban in Unix ms.
      const until = Number(/until (\d+)/.exec(event.reason)?.[1] ?? 0);
      delay = Math.max(until - Date.now(), BANNED_RETRY_MIN_MS) + Math.random() * 5_000;
      this.offline(event.reason);
    } else if (event.code === 1013) {
      // The node is busy (a reconnect storm): come back no sooner than it
      // asks, plus the backoff's own jitter.
      const asked = Number(/retry in (\d+) ms/.exec(event.reason)?.[1] ?? 0);
      delay = asked + delay;
      this.offline();
    } else {
      this.offline();
    }
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  // A socket can die without a close event (sleep, a network change): when
  // the server has been silent for a while, ask for a pong, and give the
  // socket up if none comes.
  watch() {
    clearInterval(this.watchTimer);
    this.watchTimer = setInterval(() => {
      if (!this.ready || performance.now() - this.lastHeard < SILENCE_MS) return;
      const socket = this.socket;
      const giveUp = setTimeout(() => {
        if (this.socket !== socket) return;
        socket.close();
        this.closed({ code: 1006, reason: '' });
      }, PONG_WAIT_MS);
      this.request({ type: 'ping' }).finally(() => clearTimeout(giveUp)).catch(() => {});
    }, SILENCE_MS);
  }

  detach() {
    if (this.socket) {
      this.socket.onopen = this.socket.onmessage = this.socket.onclose = null;
      this.socket = null;
    }
    this.ready = false;
    this.rejectPending();
  }

  rejectPending() {
    for (const waiter of this.pending.values()) waiter.reject(new ConnectionClosed());
    this.pending.clear();
  }

  // "reconnecting" only once we had a session; before that, "connecting".
  offline(detail = '') {
    this.status(this.everReady ? 'reconnecting' : 'connecting', detail);
  }

  status(state, detail = '') {
    this.handlers.onStatus(state, detail);
  }
}
