import NIOCore

/// One ILP stream — an HTTP body or a TCP connection — parsed on two cores (decision 0023).
///
/// Parsing and casting are most of what ingestion costs, and one stream is one task: on its
/// own it keeps one core busy while the other waits. So received bytes are read ahead up to
/// `roundBytes` (a bounded amount — a large body is still never held whole), cut at a line end
/// near the middle, and the two halves are parsed at once: the first by the stream's own
/// ingestor, the second by a helper ingestor in a child task. The helper's rows then move
/// after the first half's (`LineIngestor.absorb`), so rows, their order and every error — the
/// first bad line's number and text — are what parsing the stream in one pass gives.
///
/// What a lane cannot do alone it hands back: a line that needs a new table or column stops
/// the helper there, and the stream's task applies the change (after the first half, whose
/// own changes come first, as in a single pass) and parses the rest of that half itself.
/// ILP v2 binary values hold raw bytes, a newline among them, so a cut can land inside one:
/// the first half then ends inside a line, and the helper's work is dropped for a one-pass
/// parse of the second half. Small amounts are parsed in one pass,
/// and bytes that hold no line end yet go to the stream at once, which checks them as it would
/// in one pass (a sender of garbage is refused without waiting for a newline).
package struct LineLanes {
    private let ingestion: LineIngestion
    private let ingestor: LineIngestor
    private let unit: LineTimestampUnit
    /// The request's own lane; it also parses everything that is not split.
    private var stream: LineStream
    private var pending = PendingLines()
    /// Read ahead before the pending bytes are split in two.
    private let roundBytes: Int
    /// The least a half may hold; less is not worth the hand-off to another core.
    private let minimumHalfBytes: Int
    private var maxLineBytes: Int { ingestion.configuration.maxLineBytes }

    package init(
        ingestion: LineIngestion, ingestor: LineIngestor, defaultUnit: LineTimestampUnit,
        roundBytes: Int = 4 << 20, minimumHalfBytes: Int = 128 << 10
    ) {
        self.ingestion = ingestion
        self.ingestor = ingestor
        self.unit = defaultUnit
        self.stream = LineStream(maxLineBytes: ingestion.configuration.maxLineBytes)
        self.roundBytes = max(roundBytes, 2)
        self.minimumHalfBytes = max(minimumHalfBytes, 1)
    }

    /// Non-empty lines parsed so far, in both lanes.
    package var linesParsed: Int { stream.linesParsed }

    /// Takes the next received bytes; parses once `roundBytes` are waiting.
    package mutating func feed(_ chunk: ByteBuffer) async throws(LineIngestError) {
        var chunk = chunk
        if stream.hasPartialLine {
            // The stream holds the start of a line (see below): finish that line, and the
            // bytes after it wait to be split like any others.
            stream.feed(chunk)
            try await LineIngestion.drain(&stream, into: ingestor, defaultUnit: unit, carriedOnly: true)
            if stream.isCarryingLine { return }
            chunk = stream.takeUnread()
        }
        pending.append(chunk)
        if pending.count >= roundBytes {
            try await parsePending(isFinal: false)
        } else if !pending.containsNewline {
            // Not even one line yet (a slow sender, or bytes that are no ILP at all): the
            // stream checks what there is now and carries it, as it would in one pass.
            try await parseInOnePass(pending.take(pending.count))
        }
    }

    /// The body has ended: parses what is left, the last line possibly without its newline.
    package mutating func finish() async throws(LineIngestError) {
        if !pending.isEmpty { try await parsePending(isFinal: true) }
        stream.finish()
        try await LineIngestion.drain(&stream, into: ingestor, defaultUnit: unit)
    }

    /// Parses every complete line received so far (a stream that went quiet, or ended without
    /// finishing its last line, which is dropped); a partial line stays carried.
    package mutating func flush() async throws(LineIngestError) {
        if !pending.isEmpty { try await parsePending(isFinal: false) }
        if !pending.isEmpty { try await parseInOnePass(pending.take(pending.count)) }
    }

    /// Whether received bytes wait for the end of their line.
    package var hasPartialLine: Bool { stream.hasPartialLine || !pending.isEmpty }

    /// Splits the pending complete lines in two halves parsed at once, or parses them in one
    /// pass when they cannot or need not be split. A partial last line stays pending unless
    /// the body is complete.
    private mutating func parsePending(isFinal: Bool) async throws(LineIngestError) {
        try await parseRound(isFinal: isFinal)
        // A cut inside a binary value can leave the stream inside a line: the bytes after the
        // cut belong to that line and go to the stream next, not wait behind it.
        if stream.isCarryingLine && !pending.isEmpty { try await parseInOnePass(pending.take(pending.count)) }
    }

    private mutating func parseRound(isFinal: Bool) async throws(LineIngestError) {
        guard let end = isFinal ? Optional(pending.count) : pending.lineEnd(atOrBefore: pending.count) else {
            // No complete line yet. Pending bytes start at a line's start, so past the longest
            // line allowed this one is too long: the stream refuses it.
            if pending.count > maxLineBytes { try await parseInOnePass(pending.take(pending.count)) }
            return
        }
        guard end >= 2 * minimumHalfBytes,
              let middle = pending.lineEnd(atOrBefore: end / 2), middle >= minimumHalfBytes, end - middle >= minimumHalfBytes
        else {
            try await parseInOnePass(pending.take(end))
            return
        }
        // Queries first: while statements run, ingestion keeps to one core (decision 0028).
        if ingestion.queriesRunning() {
            LineMetrics.yieldedToQueries()
            try await parseInOnePass(pending.take(end))
            return
        }
        let head = pending.take(middle)
        let tail = pending.take(end - middle)
        let helper = ingestion.borrowIngestor()
        defer { ingestion.recycle(helper) }
        let lane = Lane(ingestor: helper, maxLineBytes: maxLineBytes, unit: unit)
        async let helped = lane.parse(tail, isFinal: isFinal)
        var failure: LineIngestError?
        do {
            try await parseInOnePass(head)
        } catch {
            failure = error
        }
        let outcome = await helped
        if let failure { throw failure }
        guard !stream.isCarryingLine else {
            // The first half ended inside a line: the newline it was cut at lay in an ILP v2
            // binary value, whose raw bytes may hold any byte. The helper parsed from the
            // middle of a line, so its work is dropped (it changed nothing but its own
            // batches, which `recycle` empties) and the second half is parsed here.
            LineMetrics.split(undone: true)
            try await parseInOnePass(tail)
            return
        }
        LineMetrics.split(undone: false)
        try await join(outcome, from: helper, isFinal: isFinal)
    }

    /// Takes the helper's half in after the first: finishes what it stopped at, moves its rows
    /// and numbers its lines after the first half's.
    private mutating func join(_ outcome: Lane.Outcome, from helper: LineIngestor, isFinal: Bool) async throws(LineIngestError) {
        let before = stream.linesParsed
        var laneStream = outcome.stream
        var failure = outcome.failure
        if failure == nil, let change = outcome.change {
            do {
                try await helper.apply(change)
                try await LineIngestion.drain(&laneStream, into: helper, defaultUnit: unit)
                for chunk in outcome.unread {
                    laneStream.feed(chunk)
                    try await LineIngestion.drain(&laneStream, into: helper, defaultUnit: unit)
                }
                if isFinal {
                    laneStream.finish()
                    try await LineIngestion.drain(&laneStream, into: helper, defaultUnit: unit)
                }
            } catch {
                failure = error
            }
        }
        if failure == nil && laneStream.isCarryingLine {
            // The second half ended inside a line too (its last newline lay in a binary value):
            // that line's start waits in front of the bytes that finish it.
            pending.prepend(ByteBuffer(bytes: laneStream.takeCarried()))
        }
        stream.countLines(laneStream.linesParsed)
        // Rows before a bad line are kept, as in one pass (a request discards them all).
        try ingestor.absorb(helper)
        if let failure { throw failure.shifted(by: before) }
    }

    private mutating func parseInOnePass(_ chunks: [ByteBuffer]) async throws(LineIngestError) {
        for chunk in chunks {
            stream.feed(chunk)
            try await LineIngestion.drain(&stream, into: ingestor, defaultUnit: unit)
        }
    }
}

/// The helper's half: parsed synchronously in a child task, into an ingestor only it uses
/// until the join.
private struct Lane: @unchecked Sendable {
    let ingestor: LineIngestor
    let maxLineBytes: Int
    let unit: LineTimestampUnit

    /// Where the helper stopped. Handed from the child task to its parent at the join and used
    /// by the parent alone from then on.
    struct Outcome: @unchecked Sendable {
        var stream: LineStream
        /// The schema change the line at the stream's position needs (the stream offers the
        /// line again once it is made), and the chunks not yet fed.
        var change: LineSchemaChange?
        var unread: ArraySlice<ByteBuffer> = []
        /// A bad line (numbered from the half's start): parsing stopped there.
        var failure: LineIngestError?
    }

    func parse(_ chunks: [ByteBuffer], isFinal: Bool) -> Outcome {
        var stream = LineStream(maxLineBytes: maxLineBytes)
        stream.use(ingestor.seriesMemo)
        let handler: LineStream.LineHandler = { (parser, buffer, line) throws(LineIngestError) in
            try ingestor.append(parser, in: buffer, line: line, defaultUnit: unit)
        }
        do throws(LineIngestError) {
            for (index, chunk) in chunks.enumerated() {
                stream.feed(chunk)
                if let change = try stream.drain(handler) {
                    return Outcome(stream: stream, change: change, unread: chunks[(index + 1)...])
                }
            }
            if isFinal {
                stream.finish()
                if let change = try stream.drain(handler) { return Outcome(stream: stream, change: change) }
            }
            return Outcome(stream: stream)
        } catch {
            return Outcome(stream: stream, failure: error)
        }
    }
}

/// Received ILP bytes not parsed yet, as the chunks they came in (no copy).
struct PendingLines {
    private(set) var chunks: [ByteBuffer] = []
    private(set) var count = 0
    var isEmpty: Bool { count == 0 }

    /// Whether any newline is pending (escaped or not); found early in all but a partial line.
    var containsNewline: Bool {
        chunks.contains { chunk in chunk.withUnsafeReadableBytes { $0.firstIndex(of: UInt8(ascii: "\n")) != nil } }
    }

    mutating func append(_ chunk: ByteBuffer) {
        guard chunk.readableBytes > 0 else { return }
        chunks.append(chunk)
        count += chunk.readableBytes
    }

    mutating func prepend(_ chunk: ByteBuffer) {
        guard chunk.readableBytes > 0 else { return }
        chunks.insert(chunk, at: 0)
        count += chunk.readableBytes
    }

    /// Just past the last newline at or before `limit` that ends a line — one after an even
    /// run of backslashes (an odd run escapes it) — or `nil` when there is none. A newline
    /// just after a `==` may be a byte of an ILP v2 binary double (`==`, a type byte, 8 bytes)
    /// and is passed over; one inside a longer binary value (an array) can still be returned,
    /// which `LineLanes` finds out after parsing the first half.
    func lineEnd(atOrBefore limit: Int) -> Int? {
        var chunkEnd = count
        for chunk in chunks.reversed() {
            let chunkStart = chunkEnd - chunk.readableBytes
            defer { chunkEnd = chunkStart }
            guard chunkStart < limit else { continue }
            var searchEnd = min(limit, chunkEnd) - chunkStart
            while searchEnd > 0 {
                guard let newline = chunk.withUnsafeReadableBytes({ bytes in
                    bytes[..<searchEnd].lastIndex(of: UInt8(ascii: "\n"))
                }) else { break }
                let offset = chunkStart + newline
                if backslashesBefore(offset) % 2 == 0 && !followsBinaryMarker(offset) { return offset + 1 }
                searchEnd = newline
            }
        }
        return nil
    }

    /// Whether a `==` starts within the 10 bytes before `offset`: the byte may then belong to
    /// a binary double's type byte or value.
    private func followsBinaryMarker(_ offset: Int) -> Bool {
        let equals = UInt8(ascii: "=")
        var previous: UInt8 = 0
        for position in max(0, offset - 10)..<offset {
            let byte = byte(at: position)
            if byte == equals && previous == equals { return true }
            previous = byte
        }
        return false
    }

    /// How many backslashes directly precede the byte at `offset`.
    private func backslashesBefore(_ offset: Int) -> Int {
        var run = 0
        var position = offset - 1
        while position >= 0, byte(at: position) == UInt8(ascii: "\\") {
            run += 1
            position -= 1
        }
        return run
    }

    private func byte(at offset: Int) -> UInt8 {
        var start = 0
        for chunk in chunks {
            if offset < start + chunk.readableBytes {
                return chunk.getInteger(at: chunk.readerIndex + offset - start, as: UInt8.self)!
            }
            start += chunk.readableBytes
        }
        preconditionFailure("offset \(offset) past the pending bytes")
    }

    /// Removes and returns the first `bytes` bytes (slices of the chunks, no copy).
    mutating func take(_ bytes: Int) -> [ByteBuffer] {
        precondition(bytes <= count, "taking more than is pending")
        var taken: [ByteBuffer] = []
        var left = bytes
        var index = 0
        while left > 0 {
            let size = chunks[index].readableBytes
            if size <= left {
                taken.append(chunks[index])
                left -= size
                index += 1
            } else {
                taken.append(chunks[index].readSlice(length: left)!)
                left = 0
            }
        }
        chunks.removeFirst(index)
        count -= bytes
        return taken
    }
}
