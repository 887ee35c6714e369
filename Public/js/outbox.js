// Sends own messages in order, paced like the server's send rate (bursts of
// 5, then 1 per second). A send without an ack stays in the outbox and goes
// out again after a reconnect with the same client_id, so the server answers
// duplicate:true instead of storing it twice (PROTOCOL.md §4.8).

import { ConnectionClosed } from './connection.js';
import { TokenBucket } from './pacer.js';
import { acknowledge, addPending, discardPending, findPending, setPendingStatus, state } from './state.js';

export function createOutbox(connection, { onGap }) {
  const bucket = new TokenBucket(5, 1);
  let timer = null;

  function pump() {
    clearTimeout(timer);
    timer = null;
    if (!connection.ready) return;
    for (const pending of state.outbox) {
      if (pending.status !== 'pending' || pending.inFlight) continue;
      // Keep the order: nothing overtakes a send that has to wait.
      const wait = Math.max(bucket.wait(), pending.notBefore - performance.now());
      if (wait > 0) {
        timer = setTimeout(pump, wait);
        return;
      }
      bucket.tryTake();
      transmit(pending);
    }
  }

  async function transmit(pending) {
    pending.inFlight = true;
    try {
      const ack = await connection.request({
        type: 'send',
        conversation_id: pending.conversationId,
        text: pending.text,
        client_id: pending.clientId,
      });
      if (acknowledge(pending, ack)) onGap(ack.conversation_id);
    } catch (error) {
      pending.inFlight = false;
      if (error.code === 'rate_limited') {
        bucket.drain();
        pending.notBefore = performance.now() + (error.retryAfterMs ?? 1000);
      } else if (!(error instanceof ConnectionClosed)) {
        setPendingStatus(pending, 'failed', error.message);
      }
      // A closed connection leaves it pending: the next `ready` pumps again.
    }
    pump();
  }

  return {
    pump,
    send(conversationId, text) {
      addPending(conversationId, text);
      pump();
    },
    retry(clientId) {
      const pending = findPending(clientId);
      if (!pending) return;
      pending.notBefore = 0;
      setPendingStatus(pending, 'pending');
      pump();
    },
    discard: discardPending,
  };
}
