/// How names are compared in search: case-insensitively, whole Unicode.
public enum SearchKey {
    public static func fold(_ name: String) -> String { name.lowercased() }

    /// The least string greater than every string that starts with `prefix`,
    /// so that `key >= prefix AND key < successor` is an index range scan.
    /// UTF-8 orders strings by code point, so bumping the last scalar works.
    /// Nil when no such string exists (the prefix is all U+10FFFF).
    public static func prefixSuccessor(_ prefix: String) -> String? {
        var scalars = Array(prefix.unicodeScalars)
        while let last = scalars.popLast() {
            var next = last.value + 1
            if next == 0xD800 { next = 0xE000 }  // skip the surrogate range
            if let scalar = Unicode.Scalar(next) {
                scalars.append(scalar)
                var result = ""
                result.unicodeScalars.append(contentsOf: scalars)
                return result
            }
        }
        return nil
    }
}
