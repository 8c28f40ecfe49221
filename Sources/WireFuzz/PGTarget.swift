import NIOCore
import PostgresWire

/// PG wire: the start-up packet, then messages, decoded and passed through the connection
/// state machine (as if authentication succeeded at once), each step's outcome as text. The
/// input's first byte picks whether a start-up packet comes first (a client after start-up
/// otherwise), so both decoders are reached.
enum PGTarget {
    static func check(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let body = UnsafeRawBufferPointer(rebasing: bytes[1...])
        requireSameAnswer(body) { cuts in answer(body, cuts: cuts, startup: first & 1 == 0) }
    }

    static func answer(_ bytes: UnsafeRawBufferPointer, cuts: [Int], startup: Bool) -> [String] {
        var decoder = PGMessageDecoder(maxMessageBytes: 4096)
        var machine = PGConnectionStateMachine()
        if !startup {
            _ = machine.startup(.startup(minorVersion: 0, parameters: ["user": "fuzz"], options: []), tlsAvailable: false, tlsActive: false)
            machine.authenticated()
        }
        var out: [String] = []
        var start = 0
        for end in cuts + [bytes.count] where end >= start {
            decoder.feed(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<end])))
            start = end
            do throws(PGFramingError) {
                while machine.phase != .closed {
                    if machine.phase == .startup {
                        guard let request = try decoder.nextStartup() else { break }
                        let action = machine.startup(request, tlsAvailable: false, tlsActive: false)
                        out.append("startup \(canonical(request)) -> \(canonical(action))")
                        continue
                    }
                    guard let message = try decoder.next() else { break }
                    switch message {
                    case .success(let message):
                        let action = machine.receive(message)
                        out.append("\(message) -> \(action)")
                        // As if every password were right.
                        if case .authenticate = action { machine.authenticated() }
                    case .failure(let error):
                        out.append("failure \(error)")
                        if error.fatal { return out }
                        machine.failed(extendedProtocol: true)
                    }
                }
            } catch {
                out.append("framing \(error)")
                return out
            }
        }
        return out
    }

    /// Start-up parameters in name order: a dictionary's own order differs between two equal
    /// dictionaries (per-instance hash seeds), which would read as a changed answer.
    static func canonical(_ request: PGStartupRequest) -> String {
        guard case .startup(let minor, let parameters, let options) = request else { return "\(request)" }
        return "startup(\(minor), \(parameters.sorted { $0.key < $1.key }), \(options))"
    }

    static func canonical(_ action: PGConnectionStateMachine.StartupAction) -> String {
        guard case .authenticate(let user, let parameters, let negotiate) = action else { return "\(action)" }
        return "authenticate(\(user), \(parameters.sorted { $0.key < $1.key }), \(String(describing: negotiate)))"
    }
}
