// How people, times and presence read on screen.

// What a deleted message shows instead of its text (the server keeps none).
export const DELETED_TEXT = 'This message was deleted';

const time = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const day = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

const sameDay = (a, b) => a.toDateString() === b.toDateString();

// 14:05 today, "3 Dec" before.
export function shortTime(ts) {
  const date = new Date(ts);
  return sameDay(date, new Date()) ? time.format(date) : day.format(date);
}

export const clockTime = (ts) => time.format(new Date(ts));
export const fullTime = (ts) => full.format(new Date(ts));

export function lastSeen(presence) {
  if (presence?.online) return 'Online';
  if (!presence?.last_seen_ts) return 'Offline';
  const date = new Date(presence.last_seen_ts);
  return sameDay(date, new Date())
    ? `Last seen at ${time.format(date)}`
    : `Last seen ${day.format(date)} at ${time.format(date)}`;
}

export function initials(name) {
  const letters = name.trim().split(/\s+/).slice(0, 2).map((word) => [...word][0] ?? '');
  return letters.join('').toUpperCase() || '?';
}

// A stable colour (one of 8, see styles.css) per id.
export function hue(id) {
  let sum = 0;
  for (const char of id) sum = (sum * 31 + char.charCodeAt(0)) >>> 0;
  return String(sum % 8);
}

// A failed call's message, with how long to wait when it was throttled.
export function errorText(failure) {
  if (failure.code !== 'rate_limited' || !failure.retryAfterMs) return failure.message;
  const minutes = Math.ceil(failure.retryAfterMs / 60_000);
  const wait = failure.retryAfterMs < 60_000
    ? `${Math.ceil(failure.retryAfterMs / 1000)} seconds`
    : `${minutes} ${minutes === 1 ? 'minute' : 'minutes'}`;
  return `${failure.message} (try again in ${wait})`;
}
