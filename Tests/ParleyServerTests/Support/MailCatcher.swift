import Foundation
import ParleyBench

/// A real SMTP server on loopback: Debian's aiosmtpd, keeping what it
/// receives in a maildir the test reads. With `tls`, it offers (and
/// requires) STARTTLS with a certificate made for the run, whose PEM is
/// `caFile`.
final class MailCatcher: Sendable {
    let port: Int
    let caFile: String?
    private let directory: URL
    private let process: ChildProcess

    private init(port: Int, caFile: String?, directory: URL, process: ChildProcess) {
        self.port = port
        self.caFile = caFile
        self.directory = directory
        self.process = process
    }

    static func start(tls: Bool = false) async throws -> MailCatcher {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-mail-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try Nginx.freePort()
        var arguments = ["-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)", "-c", "aiosmtpd.handlers.Mailbox"]
        var caFile: String?
        if tls {
            let cert = directory.appendingPathComponent("cert.pem").path, key = directory.appendingPathComponent("key.pem").path
            let openssl = ChildProcess()
            openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            openssl.arguments = [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ]
            openssl.standardOutput = FileHandle.nullDevice
            openssl.standardError = FileHandle.nullDevice
            try openssl.run()
            openssl.waitUntilExit()
            guard openssl.terminationStatus == 0 else { throw TestFailure("openssl could not make a certificate") }
            arguments += ["--tlscert", cert, "--tlskey", key]
            caFile = cert
        }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = arguments + [directory.appendingPathComponent("maildir").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let catcher = MailCatcher(port: port, caFile: caFile, directory: directory, process: process)
        // Listening once a connection is taken.
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if catcher.accepts() { return catcher }
            guard process.isRunning else { throw TestFailure("aiosmtpd exited: is Debian's python3-aiosmtpd installed?") }
            try await Task.sleep(for: .milliseconds(50))
        }
        catcher.stop()
        throw TestFailure("aiosmtpd did not listen within 10 s")
    }

    private func accepts() -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// The arguments that point `parley serve` at this server; with
    /// `trusting: false` without its certificate's authority.
    func serverArguments(trusting: Bool = true) -> [String] {
        ["--smtp-url", "smtp://127.0.0.1:\(port)", "--mail-from", "parley@example.test"]
            + (trusting ? caFile.map { ["--smtp-ca-file", $0] } ?? [] : [])
    }

    /// Every mail received so far, as text.
    func mails() -> [String] {
        let folder = directory.appendingPathComponent("maildir/new")
        let files = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: [.creationDateKey])) ?? []
        return files.sorted { Self.arrival($0) < Self.arrival($1) }.compactMap { try? String(contentsOf: $0, encoding: .utf8) }
    }

    /// Python's maildir names a file "seconds.M<microseconds>P<pid>Q<count>.host",
    /// the microseconds not zero-padded: the count is the order of arrival.
    private static func arrival(_ file: URL) -> Int {
        let name = file.lastPathComponent
        guard let q = name.range(of: #"Q\d+"#, options: .regularExpression) else { return 0 }
        return Int(name[q].dropFirst()) ?? 0
    }

    /// Waits for the `number`th mail to `address` (1: the first) and
    /// returns the code in it.
    func code(to address: String, number: Int, within limit: Duration = .seconds(10)) async throws -> String {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let received = mails().filter { $0.lowercased().contains("to: <\(address.lowercased())>") }
            if received.count >= number {
                let mail = received[number - 1]
                guard let range = mail.range(of: #"(?m)^\d{6}\r?$"#, options: .regularExpression) else {
                    throw TestFailure("no code in the mail: \(mail)")
                }
                return String(mail[range].prefix(6))
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("mail \(number) to \(address) did not arrive within \(limit); \(mails().count) mails in all")
    }

    func stop() {
        // aiosmtpd's event loop does not end on SIGTERM.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }
}
