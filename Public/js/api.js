// HTTP API of the Parley server (docs/PROTOCOL.md §3). Every call resolves
// with the parsed body (null for 204) or rejects with an ApiError.

export class ApiError extends Error {
  constructor(status, code, message, retryAfterMs) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

let token = null;
let onUnauthorized = () => {};

export function setToken(value) {
  token = value;
}

// Called when the server refuses our token, so the app can log out locally.
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

// ownsUnauthorized: a 401 is the caller's to judge (a wrong code can be one),
// not taken at once for the end of the session.
async function request(method, path, body, { ownsUnauthorized = false } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(`/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  const error = data?.error ?? {};
  const failure = new ApiError(response.status, error.code ?? 'internal_error',
    error.message ?? `The server answered ${response.status}.`, error.retry_after_ms);
  // A 401 on a route that needed our token means the session is over.
  if (response.status === 401 && token && !ownsUnauthorized) onUnauthorized(failure);
  throw failure;
}

const id = encodeURIComponent;

export const api = {
  signUp: (handle, password, displayName) =>
    request('POST', '/accounts', { handle, password, display_name: displayName || undefined }),
  logIn: (handle, password) => request('POST', '/tokens', { handle, password }),
  logOut: () => request('DELETE', '/tokens/current'),
  me: () => request('GET', '/me'),
  // Which ways of signing in the server offers: {password, email_code}.
  signInOptions: () => request('GET', '/sign-in'),
  // Always 202, whether or not the address has an account (no one learns
  // which addresses do).
  sendLoginCode: (email) => request('POST', '/login-codes', { email }),
  // handle: the one a new account takes, if it is free (ignored for an
  // address that has an account).
  logInWithCode: (email, code, handle) =>
    request('POST', '/tokens', { email, code, handle: handle || undefined }),
  // Linking an address to the signed-in account: a code goes to it (202),
  // and confirming that code links it ({user, email}).
  linkEmail: (email) => request('PUT', '/me/email', { email }),
  // 401 here mostly means a wrong code: the caller checks the session.
  confirmEmail: (code) => request('POST', '/me/email/confirm', { code }, { ownsUnauthorized: true }),

  searchUsers: (q) => request('GET', `/users?q=${id(q)}`),
  blocks: () => request('GET', '/blocks'),
  block: (userId) => request('PUT', `/blocks/${id(userId)}`),
  unblock: (userId) => request('DELETE', `/blocks/${id(userId)}`),

  conversations: (cursor) =>
    request('GET', `/conversations?limit=30${cursor ? `&cursor=${id(cursor)}` : ''}`),
  conversation: (convId) => request('GET', `/conversations/${id(convId)}`),
  openDirect: (userId) => request('POST', '/conversations', { kind: 'direct', with: userId }),
  createGroup: (title, members) => request('POST', '/conversations', { kind: 'group', title, members }),
  addMember: (convId, userId) => request('POST', `/conversations/${id(convId)}/members`, { user_id: userId }),
  removeMember: (convId, userId) => request('DELETE', `/conversations/${id(convId)}/members/${id(userId)}`),
  // role: 'admin', 'member', or 'owner' to hand the group over (§9.4).
  setRole: (convId, userId, role) =>
    request('PUT', `/conversations/${id(convId)}/members/${id(userId)}`, { role }),
  deleteMessage: (convId, seq) => request('DELETE', `/conversations/${id(convId)}/messages/${seq}`),
  // Invites (§9.5): the server's defaults, 7 days and no limit on uses.
  // The group's invites that still let people in, newest first.
  invites: (convId) => request('GET', `/conversations/${id(convId)}/invites`),
  createInvite: (convId) => request('POST', `/conversations/${id(convId)}/invites`, {}),
  revokeInvite: (convId, code) => request('DELETE', `/conversations/${id(convId)}/invites/${id(code)}`),
  acceptInvite: (code) => request('POST', `/invites/${id(code)}/accept`),
  // Chat requests (servers started with --chat-requests on).
  acceptRequest: (convId) => request('POST', `/conversations/${id(convId)}/accept`),
  declineRequest: (convId) => request('POST', `/conversations/${id(convId)}/decline`),

  // window is one of {after}, {before} or {} (the newest page).
  messages: (convId, window, limit) => {
    const params = new URLSearchParams({ ...window, limit });
    return request('GET', `/conversations/${id(convId)}/messages?${params}`);
  },
};
