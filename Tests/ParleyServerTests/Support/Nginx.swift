import Foundation
import Synchronization

/// Debian's nginx in front of some `parley serve` nodes, as scripts/cluster
/// runs it: started with `nginx_start` of scripts/lib/nginx.sh (round robin,
/// WebSocket upgrades passed on, a node that refuses a connection left out
/// for 5 s), on a free loopback port, from a temporary folder of its own.
///
/// `nginx_start` leaves nginx running in the background (`daemon off`, in a
/// session of its own) and returns once it listens; the script that ran it
/// ends there, and `stop()` ends nginx with `nginx_stop`.
final class Nginx: Sendable {
    /// Where nginx listens, on 127.0.0.1.
    let port: Int
    /// Its folder: configuration, pid file and logs (`logs/access.log`).
    let directory: String
    private let pid: Int32
    private let stopped = Mutex(false)

    /// Starts nginx balancing over the nodes on `nodePorts` (127.0.0.1).
    init(nodePorts: [Int]) throws {
        precondition(!nodePorts.isEmpty)
        (port, pid, directory) = try Self.start(nodePorts)
    }

    /// Runs `nginx_start` on a free port: its port, pid and folder.
    private static func start(_ nodePorts: [Int]) throws -> (Int, Int32, String) {
        var lastError: (any Error)?
        // A free port is found by binding to port 0 and letting go of it:
        // another process may take it meanwhile, so a failed start is tried
        // again on another one.
        for _ in 0..<3 {
            do {
                let free = try freePort()
                let output = try RepositoryScript.run("""
                    source scripts/lib/nginx.sh
                    nginx_start \(free) \(nodePorts.map(String.init).joined(separator: " "))
                    printf 'nginx:%s:%s:%s\\n' "$NGINX_PORT" "$NGINX_PID" "$NGINX_DIR"
                    """)
                guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("nginx:") }) else {
                    throw TestFailure("nginx_start printed no port: \(output)")
                }
                let fields = line.split(separator: ":", maxSplits: 3).map(String.init)
                guard fields.count == 4, let port = Int(fields[1]), let pid = Int32(fields[2]) else {
                    throw TestFailure("nginx_start printed \(line)")
                }
                return (port, pid, fields[3])
            } catch {
                lastError = error
            }
        }
        throw lastError ?? TestFailure("nginx did not start")
    }

    /// The access log so far: one line per finished request (a WebSocket's
    /// when it closed), each naming the node that answered it
    /// (`upstream=127.0.0.1:PORT`).
    var accessLog: String {
        (try? String(contentsOfFile: directory + "/logs/access.log", encoding: .utf8)) ?? ""
    }

    /// The node ports named by the access log's lines for `path`, answered
    /// with `status`, in log order (a request that went on to another node
    /// names every one it tried: the last one answered it).
    func upstreams(path: String, status: Int) -> [Int] {
        accessLog.split(separator: "\n").compactMap { line -> Int? in
            guard line.contains("\"GET \(path) ") || line.contains("\"POST \(path) "),
                line.contains("\" \(status) "),
                let range = line.range(of: "upstream=")
            else { return nil }
            let list = line[range.upperBound...].components(separatedBy: " upstream_status=").first ?? ""
            let answered = list.components(separatedBy: ", ").last ?? ""
            return Int(answered.split(separator: ":").last ?? "")
        }
    }

    /// Stops nginx (TERM, then KILL of its process group) and removes its
    /// folder. Does nothing the second time.
    func stop() {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        _ = try? RepositoryScript.run("""
            NGINX_DIR='\(directory)'
            NGINX_PID=\(pid)
            source scripts/lib/nginx.sh
            nginx_stop
            """)
    }

    deinit { stop() }

    /// A loopback port nothing was bound to a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestFailure("bind() failed: \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw TestFailure("getsockname() failed: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
