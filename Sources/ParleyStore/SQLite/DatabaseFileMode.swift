#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The database holds password hashes: its files are readable by their
/// owner only. SQLite gives the `-wal` and `-shm` files it creates the
/// mode of the database file, so creating that one 0600 is enough; files
/// left looser by an older version are tightened.
enum DatabaseFileMode {
    static let ownerOnly: mode_t = 0o600

    static func restrict(path: String) throws {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, ownerOnly)
        guard descriptor >= 0 else { throw DatabaseFileModeError(path: path, errno: errno) }
        close(descriptor)
        for file in [path, path + "-wal", path + "-shm"] {
            var status = stat()
            guard stat(file, &status) == 0, status.st_mode & 0o077 != 0 else { continue }
            guard chmod(file, ownerOnly) == 0 else { throw DatabaseFileModeError(path: file, errno: errno) }
        }
    }
}

struct DatabaseFileModeError: Error, CustomStringConvertible {
    let path: String
    let errno: Int32
    var description: String { "cannot make \(path) readable by its owner only: errno \(errno)" }
}
