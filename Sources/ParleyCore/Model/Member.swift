public struct Member: Sendable, Hashable {
    public let account: Account
    public let readSeq: Int64

    public init(account: Account, readSeq: Int64) {
        self.account = account
        self.readSeq = readSeq
    }
}
