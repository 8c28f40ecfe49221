/// The life of one HTTP/1.1 connection as far as limits, deadlines and keep-alive go.
///
/// A plain value (STYLE rule 4): events in, one `Actions` value out, no I/O. The channel
/// handler `HTTPConnectionGuard` carries the actions out. It exists because NIO's decoder
/// alone leaves a connection open after a parse error and has no deadlines (RELIABILITY §3.3).
package struct HTTPConnectionStateMachine: Sendable {
    /// Which deadline the connection's single timer is counting towards.
    package enum Deadline: Sendable, Equatable {
        /// Keep-alive wait for the next request.
        case idle
        /// From the first byte of a request head to its end (slowloris guard).
        case header
        /// Longest pause between two pieces of a request body.
        case body
    }

    /// An error answered by the server itself; the connection closes after it.
    package enum Rejection: Sendable, Equatable {
        case badRequest
        case requestTimeout
        case contentTooLarge
        case uriTooLong
        case headersTooLarge
    }

    /// What the handler must do, in this order: respond/forward, timer, close.
    package struct Actions: Sendable, Equatable {
        package var forward = false
        package var sendContinue = false
        package var reject: Rejection?
        package var timer: TimerChange = .keep
        package var close = false

        package static let none = Actions()
    }

    package enum TimerChange: Sendable, Equatable {
        case keep
        case arm(Deadline)
        case cancel
    }

    private enum RequestState: Sendable, Equatable {
        /// Between requests.
        case idle
        /// Head bytes are arriving.
        case head
        /// Head decoded; `received` body bytes so far.
        case body(received: Int64)
    }

    private let maxBodyBytes: Int64
    private var request: RequestState = .idle
    /// Requests whose response has not been completely written.
    private var responsesPending = 0
    /// The oldest pending response has started (its head went out).
    private var responseStarted = false
    /// Close once every pending response is written (client asked, or server shutting down).
    private var closeWhenDone = false
    private var closed = false

    package init(maxBodyBytes: Int64) {
        self.maxBodyBytes = maxBodyBytes
    }

    /// Whether the next response head must carry `Connection: close`.
    package var willClose: Bool { closeWhenDone || closed }

    package mutating func connectionActive() -> Actions {
        Actions(timer: .arm(.idle))
    }

    /// The first byte of a new request head arrived.
    package mutating func headBytesArrived() -> Actions {
        guard !closed, request == .idle else { return .none }
        request = .head
        return responsesPending == 0 ? Actions(timer: .arm(.header)) : .none
    }

    package mutating func requestHead(
        contentLength: Int64?, keepAlive: Bool, expectsContinue: Bool
    ) -> Actions {
        guard !closed else { return .none }
        if let contentLength, contentLength > maxBodyBytes {
            return reject(.contentTooLarge)
        }
        request = .body(received: 0)
        if responsesPending == 0 { responseStarted = false }
        responsesPending += 1
        if !keepAlive { closeWhenDone = true }
        return Actions(forward: true, sendContinue: expectsContinue, timer: .arm(.body))
    }

    package mutating func requestBody(bytes: Int) -> Actions {
        guard !closed, case .body(let received) = request else { return .none }
        let total = received + Int64(bytes)
        if total > maxBodyBytes { return reject(.contentTooLarge) }
        request = .body(received: total)
        return Actions(forward: true, timer: .arm(.body))
    }

    package mutating func requestEnd() -> Actions {
        guard !closed else { return .none }
        request = .idle
        // The application owns the time it takes to answer (query timeouts are its business).
        return Actions(forward: true, timer: .cancel)
    }

    /// `closesConnection`: the application marked the response `Connection: close`.
    package mutating func responseHeadWritten(closesConnection: Bool = false) {
        responseStarted = true
        if closesConnection { closeWhenDone = true }
    }

    package mutating func responseEndWritten() -> Actions {
        guard !closed else { return .none }
        precondition(responsesPending > 0, "response end without a pending request")
        responsesPending -= 1
        responseStarted = false
        guard responsesPending == 0 else { return .none }
        if closeWhenDone { return closeNow() }
        switch request {
        case .idle: return Actions(timer: .arm(.idle))
        case .head: return Actions(timer: .arm(.header))
        case .body: return .none
        }
    }

    package mutating func deadlineReached(_ deadline: Deadline) -> Actions {
        guard !closed else { return .none }
        switch deadline {
        case .idle: return closeNow()
        case .header, .body: return reject(.requestTimeout)
        }
    }

    package mutating func parseError(_ rejection: Rejection) -> Actions {
        guard !closed else { return .none }
        return reject(rejection)
    }

    /// The server is shutting down: finish what is in flight, then close.
    package mutating func shutdownRequested() -> Actions {
        guard !closed else { return .none }
        closeWhenDone = true
        return responsesPending == 0 ? closeNow() : .none
    }

    /// The client half-closed its side: answer what is pending, then close.
    package mutating func inputClosed() -> Actions {
        shutdownRequested()
    }

    /// Answers with `rejection` only when the request it concerns has no response yet and no
    /// earlier response is pending (injecting one would reorder or double responses); otherwise
    /// just closes.
    private mutating func reject(_ rejection: Rejection) -> Actions {
        let canRespond: Bool
        switch request {
        case .idle, .head:
            // The request is not counted yet: only when nothing else is pending.
            canRespond = responsesPending == 0
        case .body:
            // Counted on its head: it must be the only one pending, and unanswered.
            canRespond = responsesPending == 1 && !responseStarted
        }
        closed = true
        return Actions(reject: canRespond ? rejection : nil, timer: .cancel, close: true)
    }

    private mutating func closeNow() -> Actions {
        closed = true
        return Actions(timer: .cancel, close: true)
    }
}
