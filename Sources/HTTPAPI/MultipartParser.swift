/// A streaming `multipart/form-data` parser (RFC 7578): bytes in as they arrive, events out —
/// a part's headers, its body in pieces, its end. A part's body is never held whole; only a
/// possible delimiter prefix waits for the next bytes. Header blocks are limited in size.
struct MultipartParser {
    enum Event: Equatable {
        /// A part begins: its `name` and `filename` from Content-Disposition.
        case part(name: String, filename: String?)
        case data([UInt8])
        case partEnd
        case end
    }

    enum Failure: Error, Equatable {
        case malformed(String)
    }

    private enum State {
        case preamble
        case headers
        case body
        case done
    }

    private let delimiter: [UInt8]
    private let maxHeaderBytes: Int
    private var state = State.preamble
    private var pending: [UInt8] = []

    /// `boundary` from the Content-Type header.
    init(boundary: String, maxHeaderBytes: Int = 16 << 10) {
        delimiter = Array("\r\n--\(boundary)".utf8)
        self.maxHeaderBytes = maxHeaderBytes
        // The first delimiter may start the body without the leading CRLF.
        pending = Array("\r\n".utf8)
    }

    /// The boundary parameter of a `multipart/form-data` content type.
    static func boundary(contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: " ") }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for part in parts.dropFirst() where part.lowercased().hasPrefix("boundary=") {
            var value = String(part.dropFirst("boundary=".count))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value.isEmpty ? nil : value
        }
        return nil
    }

    mutating func feed(_ bytes: some Collection<UInt8>) throws(Failure) -> [Event] {
        pending.append(contentsOf: bytes)
        var events: [Event] = []
        while true {
            switch state {
            case .done:
                pending.removeAll()
                return events
            case .preamble:
                guard let found = Self.find(delimiter, in: pending) else {
                    // Keep only what could still be the start of a delimiter.
                    pending.removeFirst(max(0, pending.count - delimiter.count))
                    return events
                }
                guard let next = try afterDelimiter(at: found, events: &events) else { return events }
                pending.removeFirst(next)
            case .headers:
                guard let end = Self.find(Array("\r\n\r\n".utf8), in: pending) else {
                    if pending.count > maxHeaderBytes { throw .malformed("part headers exceed \(maxHeaderBytes) bytes") }
                    return events
                }
                let headers = String(decoding: pending[..<end], as: UTF8.self)
                pending.removeFirst(end + 4)
                events.append(try Self.partEvent(headers))
                state = .body
            case .body:
                guard let found = Self.find(delimiter, in: pending) else {
                    let safe = pending.count - (delimiter.count + 1)
                    if safe > 0 {
                        events.append(.data(Array(pending[..<safe])))
                        pending.removeFirst(safe)
                    }
                    return events
                }
                if found > 0 { events.append(.data(Array(pending[..<found]))) }
                events.append(.partEnd)
                guard let next = try afterDelimiter(at: found, events: &events) else {
                    pending.removeFirst(found)
                    state = .preamble
                    return events
                }
                pending.removeFirst(next)
            }
        }
    }

    /// After a delimiter: `--` ends the body (state `done`), CRLF starts a part's headers.
    /// Returns the index after them, or nil when more bytes are needed.
    private mutating func afterDelimiter(at found: Int, events: inout [Event]) throws(Failure) -> Int? {
        let after = found + delimiter.count
        guard pending.count >= after + 2 else { return nil }
        if pending[after] == UInt8(ascii: "-"), pending[after + 1] == UInt8(ascii: "-") {
            state = .done
            events.append(.end)
            return pending.count
        }
        // Transport padding (spaces, tabs) may follow the delimiter before its CRLF.
        var index = after
        while index < pending.count, pending[index] == UInt8(ascii: " ") || pending[index] == UInt8(ascii: "\t") { index += 1 }
        guard index + 1 < pending.count else { return nil }
        guard pending[index] == UInt8(ascii: "\r"), pending[index + 1] == UInt8(ascii: "\n") else {
            throw .malformed("boundary not followed by CRLF")
        }
        state = .headers
        return index + 2
    }

    private static func partEvent(_ headers: String) throws(Failure) -> Event {
        for line in headers.split(separator: "\r\n") {
            let lower = line.lowercased()
            guard lower.hasPrefix("content-disposition:") else { continue }
            var name: String?
            var filename: String?
            for parameter in line.split(separator: ";").dropFirst() {
                let pair = parameter.trimmingCharacters(in: " ")
                guard let equals = pair.firstIndex(of: "=") else { continue }
                let key = pair[..<equals].lowercased()
                var value = String(pair[pair.index(after: equals)...])
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                if key == "name" { name = value } else if key == "filename" { filename = value }
            }
            guard let name else { throw .malformed("part without a name") }
            return .part(name: name, filename: filename)
        }
        throw .malformed("part without Content-Disposition")
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count, let first = needle.first else { return nil }
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}

extension Substring {
    func trimmingCharacters(in character: Character) -> String {
        String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }
}
