// A token bucket mirroring the server's limits (PROTOCOL.md §1.7), so the
// client slows itself down instead of collecting rate_limited strikes.
export class TokenBucket {
  constructor(burst, perSecond) {
    this.burst = burst;
    this.perSecond = perSecond;
    this.tokens = burst;
    this.updated = performance.now();
  }

  refill() {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updated) / 1000) * this.perSecond);
    this.updated = now;
  }

  // Milliseconds until a token is available (0: take one now).
  wait() {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }

  tryTake() {
    if (this.wait() > 0) return false;
    this.tokens -= 1;
    return true;
  }

  // After a rate_limited answer: the server's bucket is empty, so ours is too.
  drain() {
    this.refill();
    this.tokens = Math.min(this.tokens, 0);
  }
}
