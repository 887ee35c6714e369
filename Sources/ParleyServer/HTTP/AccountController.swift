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
    /// nil: no mail server, no log-in codes.
    let loginCodes: LoginCodes?

    struct SignUp: Decodable {
        let handle: String
        let password: String
        let displayName: String?

        enum CodingKeys: String, CodingKey {
            case handle, password
            case displayName = "display_name"
        }
    }

    /// A handle and password, or an e-mail address and a code.
    struct LogIn: Decodable {
        let handle: String?
        let password: String?
        let email: String?
        let code: String?
    }

    struct EmailBody: Decodable {
        let email: String?
    }

    struct CodeBody: Decodable {
        let code: String?
    }

    func addRoutes(public router: some RouterMethods<ParleyRequestContext>, authenticated: some RouterMethods<ParleyRequestContext>) {
        router.post("accounts", use: signUp)
        router.post("tokens", use: logIn)
        router.get("sign-in", use: signInMethods)
        authenticated.delete("tokens/current", use: logOut)
        authenticated.get("me", use: me)
        if loginCodes != nil {
            router.post("login-codes", use: sendLoginCode)
            authenticated.put("me/email", use: linkEmail)
            authenticated.post("me/email/confirm", use: confirmEmail)
        }
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

    /// What the sign-in screen may offer here.
    @Sendable func signInMethods(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        jsonResponse { w in
            w.field("password", passwordAccounts)
            w.field("email_code", loginCodes != nil)
        }
    }

    @Sendable func logIn(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(LogIn.self, context: context)
        if body.email != nil || body.code != nil {
            return try await logIn(email: body.email, code: body.code, handle: body.handle, context: context)
        }
        try requirePasswordAccounts()
        guard let handle = body.handle, let password = body.password else {
            throw ChatError.invalidRequest("give handle and password, or email and code")
        }
        // Counted by the handle as typed (case-folded), whether it exists or
        // not, so that being throttled says nothing about the handle.
        let throttleKey = String(handle.lowercased().prefix(64))
        try logins.check(handle: throttleKey, address: context.clientAddress)
        let handleKey = try? Validation.handleKey(handle)
        let credentials = try await handleKey.asyncFlatMap { try await store.credentials(handleKey: $0) }
        // Same work and same answer for an unknown handle and a wrong password.
        guard try await passwords.verify(password, against: credentials?.passwordHash), let credentials else {
            logins.recordFailure(handle: throttleKey, address: context.clientAddress)
            throw ChatError(.unauthorized, "wrong handle or password")
        }
        return try await session(for: credentials.account, status: .ok)
    }

    /// Always 202: whether an account has the address is nobody's business.
    @Sendable func sendLoginCode(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(EmailBody.self, context: context)
        let email = try Validation.email(body.email)
        try await loginCodes?.send(to: email, purpose: .signIn, client: context.clientAddress)
        return jsonResponse(.accepted) { _ in }
    }

    /// `handle`: the one an account made by this code takes, if it is free.
    private func logIn(email: String?, code: String?, handle: String?, context: ParleyRequestContext) async throws -> Response {
        guard let loginCodes else { throw ChatError.notFound("sign-in by e-mail code is not offered here") }
        let email = try Validation.email(email)
        // Counted like a wrong password, by the address and the client.
        let throttleKey = "email:" + String(email.prefix(64))
        try logins.check(handle: throttleKey, address: context.clientAddress)
        guard let (account, created) = try await loginCodes.redeem(code ?? "", email: email, purpose: .signIn, handle: handle) else {
            logins.recordFailure(handle: throttleKey, address: context.clientAddress)
            throw ChatError(.unauthorized, "wrong, used or expired code")
        }
        return try await session(for: account, status: created ? .created : .ok)
    }

    /// Sends a code to the address; `confirm` links it to the account.
    @Sendable func linkEmail(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let body = try await request.decodeJSON(EmailBody.self, context: context)
        let email = try Validation.email(body.email)
        try await loginCodes?.send(to: email, purpose: .link(identity.account.key), client: context.clientAddress)
        return jsonResponse(.accepted) { _ in }
    }

    @Sendable func confirmEmail(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let body = try await request.decodeJSON(CodeBody.self, context: context)
        guard let loginCodes, let email = try await pendingEmail(body.code, identity: identity, loginCodes) else {
            throw ChatError(.unauthorized, "wrong, used or expired code")
        }
        return jsonResponse { w in
            w.key("user")
            w.user(identity.account.user)
            w.field("email", email)
        }
    }

    /// The address the code confirms: the one the user asked to link last.
    private func pendingEmail(_ code: String?, identity: Identity, _ loginCodes: LoginCodes) async throws -> String? {
        guard let email = try await store.pendingLinkEmail(of: identity.account.key, at: SystemClock.millis()) else { return nil }
        let throttleKey = "link:" + identity.account.user.id
        try logins.check(handle: throttleKey, address: nil)
        guard try await loginCodes.redeem(code ?? "", email: email, purpose: .link(identity.account.key)) != nil else {
            logins.recordFailure(handle: throttleKey, address: nil)
            return nil
        }
        return email
    }

    @Sendable func logOut(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        // The store publishes the revocation: every node closes the token's sockets.
        try await tokens.revoke(identity)
        return Response(status: .noContent)
    }

    @Sendable func me(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        // The address is shown to its owner only, and only here.
        let email = loginCodes == nil ? nil : try await store.email(of: identity.account.key)
        return jsonResponse { w in
            w.key("user")
            w.user(identity.account.user)
            if let email { w.field("email", email) }
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
