/// Who this node is: its cluster, its own id, the newest epoch it has seen and its role.
///
/// Stored in `node/identity` as short text so an operator can read it, with a format line and
/// a CRC32C over everything before the checksum line; any edit or bit flip is refused at start.
package struct NodeIdentity: Sendable, Equatable {
    package static let formatVersion = 1
    package static let magic = "sundial-node-identity"
    /// The file is a few hundred bytes; anything much larger is not ours.
    package static let maxFileBytes = 4096

    package var clusterID: String
    package var nodeID: String
    package var epoch: UInt64
    package var role: NodeRole
    /// The `replication.role` configured when `role` was last set by configuration. Promotion,
    /// fencing and `sundial follow` change `role` at runtime; it keeps that role across
    /// restarts until the configured role changes (the operator's newer intent).
    package var configuredRole: NodeRole?
    /// The primary (host:port) this node follows, when set at runtime (`sundial follow`, a
    /// promotion announced by a peer); `configuredUpstream` is `replication.primary` then.
    package var upstream: String?
    package var configuredUpstream: String?

    package init(
        clusterID: String, nodeID: String, epoch: UInt64, role: NodeRole, configuredRole: NodeRole? = nil,
        upstream: String? = nil, configuredUpstream: String? = nil
    ) {
        self.clusterID = clusterID
        self.nodeID = nodeID
        self.epoch = epoch
        self.role = role
        self.configuredRole = configuredRole
        self.upstream = upstream
        self.configuredUpstream = configuredUpstream
    }

    /// A new identity: fresh random cluster and node ids, epoch 0.
    package static func generate(role: NodeRole) -> NodeIdentity {
        NodeIdentity(clusterID: randomID(), nodeID: randomID(), epoch: 0, role: role)
    }

    /// The file's bytes.
    package func encoded() -> [UInt8] {
        let body = """
            \(NodeIdentity.magic) \(NodeIdentity.formatVersion)
            cluster.id=\(clusterID)
            node.id=\(nodeID)
            epoch=\(epoch)
            role=\(role.rawValue)

            """
            + (configuredRole.map { "role.configured=\($0.rawValue)\n" } ?? "")
            + (upstream.map { "upstream=\($0)\n" } ?? "")
            + (configuredUpstream.map { "upstream.configured=\($0)\n" } ?? "")
        let checksum = CRC32C.checksum(body.utf8)
        return Array((body + "checksum=crc32c:\(hex8(checksum))\n").utf8)
    }

    /// Parses and verifies the file's bytes; `path` names the file in errors.
    package static func decode(_ bytes: [UInt8], path: String) throws(StorageError) -> NodeIdentity {
        guard let marker = checksumLineStart(bytes) else {
            throw StorageError(.corrupt, path: path, "node identity has no checksum line; the file is damaged")
        }
        let body = bytes[..<marker]
        // Exactly `checksum=crc32c:` + 8 lowercase hex digits + LF: any other byte is damage.
        let line = bytes[marker...]
        let prefix = Array("checksum=crc32c:".utf8)
        let digits = line.dropFirst(prefix.count).dropLast()
        guard line.starts(with: prefix), line.count == prefix.count + 9, line.last == UInt8(ascii: "\n"),
              digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }),
              let expected = UInt32(String(decoding: digits, as: UTF8.self), radix: 16)
        else {
            throw StorageError(.corrupt, path: path, "node identity checksum line is malformed; the file is damaged")
        }
        let stored = String(decoding: digits, as: UTF8.self)
        let actual = CRC32C.checksum(body)
        guard actual == expected else {
            throw StorageError(
                .corrupt, path: path,
                "node identity checksum mismatch (stored \(stored), computed \(hex8(actual))); the file is damaged or was edited")
        }
        return try parseBody(String(decoding: body, as: UTF8.self), path: path)
    }

    private static func parseBody(_ text: String, path: String) throws(StorageError) -> NodeIdentity {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)[...]
        let header = lines.popFirst()?.split(separator: " ") ?? []
        guard header.count == 2, header[0] == Substring(magic) else {
            throw StorageError(.corrupt, path: path, "not a sundial node identity file")
        }
        guard header[1] == Substring(String(formatVersion)) else {
            throw StorageError(
                .unsupportedVersion, path: path,
                "node identity format \(header[1]) is not supported by this version (expects \(formatVersion))")
        }
        var fields: [Substring: Substring] = [:]
        for line in lines {
            guard let equals = line.firstIndex(of: "=") else {
                throw StorageError(.corrupt, path: path, "malformed line in node identity: \(line)")
            }
            fields[line[..<equals]] = line[line.index(after: equals)...]
        }
        guard let cluster = fields["cluster.id"], let node = fields["node.id"],
              let epochText = fields["epoch"], let epoch = UInt64(epochText),
              let roleText = fields["role"], let role = NodeRole(rawValue: String(roleText))
        else {
            throw StorageError(.corrupt, path: path, "node identity lacks a valid cluster.id, node.id, epoch or role")
        }
        return NodeIdentity(
            clusterID: String(cluster), nodeID: String(node), epoch: epoch, role: role,
            configuredRole: fields["role.configured"].flatMap { NodeRole(rawValue: String($0)) },
            upstream: fields["upstream"].map(String.init), configuredUpstream: fields["upstream.configured"].map(String.init))
    }

    private static func checksumLineStart(_ bytes: [UInt8]) -> Int? {
        let marker = Array("\nchecksum=".utf8)
        guard bytes.count > marker.count else { return nil }
        var index = bytes.count - marker.count
        while index >= 0 {
            if bytes[index..<index + marker.count].elementsEqual(marker) { return index + 1 }
            index -= 1
        }
        return nil
    }

    /// 128 random bits as 32 hex digits, from the system's CSPRNG.
    private static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return hex16(high) + hex16(low)
    }
}

private func hex8(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
}

private func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
