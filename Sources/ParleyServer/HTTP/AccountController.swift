import Hummingbird
import ParleyCore
import ParleyStore

/// `/v1/accounts`, `/v1/tokens`, `/v1/me`.
struct AccountController {
    let store: any ChatStore
    let tokens: TokenAuthority
    let passwords: PasswordHasher
    let limits: ChatLimits
    let passwordAccounts: Bool
    let logins: LoginThrottle
    let signUps: SignupLimiter

    struct SignUp: Decodable {
        let handle: String
        let password: String
        let displayName: String?

        enum CodingKeys: String, CodingKey {
            case handle, password
            case displayName = "display_name"
        }
    }

    struct LogIn: Decodable {
        let handle: String
        let password: String
    }

    func addRoutes(public router: some RouterMethods<ParleyRequestContext>, authenticated: some RouterMethods<ParleyRequestContext>) {
        router.post("accounts", use: signUp)
        router.post("tokens", use: logIn)
        authenticated.delete("tokens/current", use: logOut)
        authenticated.get("me", use: me)
    }

    @Sendable func signUp(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        try requirePasswordAccounts()
        try signUps.check(address: context.clientAddress)
        let body = try await request.decodeJSON(SignUp.self, context: context)
        let handleKey = try Validation.handleKey(body.handle)
        try Validation.password(body.password)
        let displayName = try Validation.displayName(body.displayName, handle: body.handle, limits: limits)
        // Cheap check first, so a taken handle does not cost a bcrypt run;
        // the store checks again, atomically.
        if try await store.account(handleKey: handleKey) != nil {
            throw ChatError.conflict("the handle '\(body.handle)' is taken")
        }
        let hash = try await passwords.hash(body.password)
        let account = try await store.createAccount(
            NewAccount(handle: body.handle, handleKey: handleKey, displayName: displayName, passwordHash: hash))
        signUps.recordAccount(address: context.clientAddress)
        return try await session(for: account, status: .created)
    }

    @Sendable func logIn(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        try requirePasswordAccounts()
        let body = try await request.decodeJSON(LogIn.self, context: context)
        // Counted by the handle as typed (case-folded), whether it exists or
        // not, so that being throttled says nothing about the handle.
        let throttleKey = String(body.handle.lowercased().prefix(64))
        try logins.check(handle: throttleKey, address: context.clientAddress)
        let handleKey = try? Validation.handleKey(body.handle)
        let credentials = try await handleKey.asyncFlatMap { try await store.credentials(handleKey: $0) }
        // Same work and same answer for an unknown handle and a wrong password.
        guard try await passwords.verify(body.password, against: credentials?.passwordHash), let credentials else {
            logins.recordFailure(handle: throttleKey, address: context.clientAddress)
            throw ChatError(.unauthorized, "wrong handle or password")
        }
        return try await session(for: credentials.account, status: .ok)
    }

    @Sendable func logOut(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        // The store publishes the revocation: every node closes the token's sockets.
        try await tokens.revoke(identity)
        return Response(status: .noContent)
    }

    @Sendable func me(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        return jsonResponse { w in
            w.key("user")
            w.user(identity.account.user)
        }
    }

    private func requirePasswordAccounts() throws {
        guard passwordAccounts else {
            throw ChatError(.forbidden, "accounts with a password are switched off here: sign in through the product")
        }
    }

    private func session(for account: Account, status: HTTPResponse.Status) async throws -> Response {
        let issued = try await tokens.issue(for: account)
        return jsonResponse(status) { w in
            w.key("user")
            w.user(account.user)
            w.field("token", issued.token)
            w.field("expires_ts", issued.expiresTS)
        }
    }
}

extension Optional {
    func asyncMap<U>(_ transform: (Wrapped) async throws -> U) async rethrows -> U? {
        guard let self else { return nil }
        return try await transform(self)
    }

    func asyncFlatMap<U>(_ transform: (Wrapped) async throws -> U?) async rethrows -> U? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
