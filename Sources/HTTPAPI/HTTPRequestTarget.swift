/// A request target split into a path and decoded query parameters.
///
/// Pure code over the target string: `%XX` and `+` are decoded in parameters; a repeated
/// parameter keeps its first value, as QuestDB does; malformed escapes make the target invalid.
package struct HTTPRequestTarget: Sendable, Equatable {
    /// Percent-decoded path, without the query.
    package var path: String
    /// Parameters in order of appearance, names and values decoded.
    package var parameters: [(name: String, value: String)]

    package init?(_ target: String) {
        let pathPart: Substring
        let queryPart: Substring?
        if let question = target.firstIndex(of: "?") {
            pathPart = target[..<question]
            queryPart = target[target.index(after: question)...]
        } else {
            pathPart = Substring(target)
            queryPart = nil
        }
        guard let path = HTTPRequestTarget.percentDecode(pathPart, plusIsSpace: false) else { return nil }
        self.path = path
        self.parameters = []
        guard let queryPart else { return }
        for pair in queryPart.split(separator: "&", omittingEmptySubsequences: true) {
            let nameEnd = pair.firstIndex(of: "=") ?? pair.endIndex
            let valueStart = nameEnd == pair.endIndex ? nameEnd : pair.index(after: nameEnd)
            guard let name = HTTPRequestTarget.percentDecode(pair[..<nameEnd], plusIsSpace: true),
                  let value = HTTPRequestTarget.percentDecode(pair[valueStart...], plusIsSpace: true)
            else { return nil }
            parameters.append((name, value))
        }
    }

    /// The first value of parameter `name`.
    package func parameter(_ name: String) -> String? {
        parameters.first { $0.name == name }?.value
    }

    package static func == (lhs: HTTPRequestTarget, rhs: HTTPRequestTarget) -> Bool {
        lhs.path == rhs.path && lhs.parameters.elementsEqual(rhs.parameters) { $0 == $1 }
    }

    /// Decodes `%XX` escapes (and `+` in queries); nil for a bad escape or invalid UTF-8.
    static func percentDecode(_ text: Substring, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue)
                else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
