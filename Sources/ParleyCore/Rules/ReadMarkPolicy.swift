/// How a reader's mark moves: forward only, and never past the last message.
public enum ReadMarkPolicy {
    /// The mark after a request to read up to `requested`; nil if it stays.
    public static func moved(current: Int64, requested: Int64, lastSeq: Int64) -> Int64? {
        let target = min(requested, lastSeq)
        return target > current ? target : nil
    }
}
