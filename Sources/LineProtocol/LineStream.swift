import NIOCore

/// An ILP byte stream cut into lines as chunks arrive (HTTP body parts, TCP reads).
///
/// Lines are parsed in place in the chunk that holds them; only a line cut by a chunk's end is
/// copied (into `carry`, together with just enough of the next chunk to finish it). `drain`
/// hands each line to the caller and can stop before one that needs a schema change; calling
/// it again after the change offers the same line again.
package struct LineStream {
    private var parser: LineParser
    private var chunk = ByteBuffer()
    private var carry: [UInt8] = []
    private var finished = false
    /// Non-empty lines handed over so far (QuestDB's line numbers skip empty lines).
    package private(set) var linesParsed = 0

    package init(maxLineBytes: Int) {
        parser = LineParser(maxLineBytes: maxLineBytes)
    }

    /// Whether the start of a line is carried, waiting for the rest of it.
    package var isCarryingLine: Bool { !carry.isEmpty }

    /// Whether a partial line is waiting for more bytes.
    package var hasPartialLine: Bool { !carry.isEmpty || chunk.readableBytes > 0 }

    /// Counts `lines` parsed elsewhere (by another lane) that come before the bytes this
    /// stream is fed next, so its line numbers stay those of the whole body.
    package mutating func countLines(_ lines: Int) {
        linesParsed += lines
    }

    /// Lets the parser skip series keys `memo` remembers (the memo of the ingestor that takes
    /// this stream's lines).
    package mutating func use(_ memo: LineSeriesMemo) {
        if parser.seriesMemo !== memo { parser.seriesMemo = memo }
    }

    /// Adds received bytes. Call only after `drain` returned `nil` (everything consumed).
    package mutating func feed(_ bytes: ByteBuffer) {
        precondition(chunk.readableBytes == 0, "feed before the previous chunk was drained")
        chunk = bytes
    }

    /// No more bytes will come (end of an HTTP body): the last line may lack its newline.
    package mutating func finish() {
        finished = true
    }

    /// The callback of `drain`: a parsed line, the buffer its ranges point into, and its
    /// 1-based number. Returns a schema change to stop before the line, or `nil` to go on.
    package typealias LineHandler = (
        _ parser: LineParser, _ buffer: UnsafeRawBufferPointer, _ line: Int
    ) throws(LineIngestError) -> LineSchemaChange?

    /// Hands every complete line to `handler`. Returns `nil` when all bytes are consumed (a
    /// partial line stays carried), or the schema change the handler asked for.
    package mutating func drain(_ handler: LineHandler) throws(LineIngestError) -> LineSchemaChange? {
        if let change = try drainCarry(handler) { return change }
        guard carry.isEmpty, chunk.readableBytes > 0 || finished else { return nil }
        var parser = self.parser
        var lines = linesParsed
        let isFinal = finished
        let (consumed, outcome) = chunk.withUnsafeReadableBytes { buffer -> (Int, Result<LineSchemaChange?, LineIngestError>) in
            var offset = 0
            while offset < buffer.count {
                switch parser.parse(buffer, from: offset, isFinal: isFinal) {
                case .emptyLine(let end):
                    offset = end
                case .incomplete:
                    return (offset, .success(nil))
                case .failed(let error):
                    return (offset, .failure(.parse(error, line: lines + 1)))
                case .line(let end):
                    do throws(LineIngestError) {
                        if let change = try handler(parser, buffer, lines + 1) { return (offset, .success(change)) }
                    } catch {
                        return (offset, .failure(error))
                    }
                    lines += 1
                    offset = end
                }
            }
            return (offset, .success(nil))
        }
        self.parser = parser
        linesParsed = lines
        chunk.moveReaderIndex(forwardBy: consumed)
        let change = try outcome.get()
        if change == nil && chunk.readableBytes > 0 {
            // The chunk ends inside a line: carry it over to the next one.
            carry.append(contentsOf: chunk.readableBytesView)
            chunk.clear()
        }
        return change
    }

    /// Finishes only the carried partial line, with bytes of the chunk fed since; lines after
    /// it stay unparsed (`LineLanes` takes them back with `takeUnread`).
    package mutating func drainCarried(_ handler: LineHandler) throws(LineIngestError) -> LineSchemaChange? {
        try drainCarry(handler)
    }

    /// The fed bytes not parsed yet, taken out of the stream; it must carry no partial line.
    package mutating func takeUnread() -> ByteBuffer {
        precondition(carry.isEmpty, "taking bytes behind a carried partial line")
        defer { chunk = ByteBuffer() }
        return chunk
    }

    /// The carried start of a line, taken out of the stream (whose fed chunk is consumed):
    /// `LineLanes` puts it back in front of the bytes that follow it.
    package mutating func takeCarried() -> [UInt8] {
        precondition(chunk.readableBytes == 0, "taking a carried line before the chunk behind it")
        defer { carry = [] }
        return carry
    }

    /// Finishes the carried partial line with bytes from the chunk, one newline at a time.
    private mutating func drainCarry(_ handler: LineHandler) throws(LineIngestError) -> LineSchemaChange? {
        while !carry.isEmpty {
            let isFinal = finished && chunk.readableBytes == 0
            var parser = self.parser
            let lines = linesParsed
            let result = carry.withUnsafeBytes { buffer -> Result<(LineParseOutcome, LineSchemaChange?), LineIngestError> in
                let outcome = parser.parse(buffer, from: 0, isFinal: isFinal)
                guard case .line = outcome else { return .success((outcome, nil)) }
                do throws(LineIngestError) {
                    return .success((outcome, try handler(parser, buffer, lines + 1)))
                } catch {
                    return .failure(error)
                }
            }
            self.parser = parser
            let (outcome, change) = try result.get()
            if let change { return change }
            switch outcome {
            case .line(let end):
                linesParsed += 1
                carry.removeFirst(end)
            case .emptyLine(let end):
                carry.removeFirst(end)
            case .failed(let error):
                throw .parse(error, line: linesParsed + 1)
            case .incomplete:
                guard chunk.readableBytes > 0 else { return nil }
                // Take the chunk up to its next newline (the line may end there), or all of it.
                let view = chunk.readableBytesView
                let take = (view.firstIndex(of: UInt8(ascii: "\n")).map { $0 - view.startIndex + 1 }) ?? view.count
                carry.append(contentsOf: view.prefix(take))
                chunk.moveReaderIndex(forwardBy: take)
            }
        }
        return nil
    }
}
