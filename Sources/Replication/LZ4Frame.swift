import CLZ4

/// LZ4 frames as replication ships them: block and content checksums and the content size in
/// the header, so a replica can verify a chunk and size its buffer before writing any byte.
///
/// Decoding goes only through `LZ4F_decompress` into a buffer capped by the caller
/// (RELIABILITY §0.7: every received byte is hostile, even over mutual TLS).
package enum LZ4Frame {
    /// Compresses `input` into one frame at the fastest level.
    package static func compress(_ input: UnsafeRawBufferPointer) throws(LZ4FrameError) -> [UInt8] {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        preferences.frameInfo.contentSize = UInt64(input.count)
        preferences.compressionLevel = 1
        let bound = LZ4F_compressFrameBound(input.count, &preferences)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { destination in
            LZ4F_compressFrame(destination.baseAddress, destination.count, input.baseAddress, input.count, &preferences)
        }
        if LZ4F_isError(written) != 0 { throw LZ4FrameError(.compression, detail: errorName(written)) }
        output.removeSubrange(written...)
        return output
    }

    /// Compresses a byte array into one frame.
    package static func compress(_ input: [UInt8]) throws(LZ4FrameError) -> [UInt8] {
        let result = input.withUnsafeBytes { raw in Result { () throws(LZ4FrameError) in try compress(raw) } }
        return try result.get()
    }

    /// Decodes exactly one whole frame of at most `maxDecodedBytes` and verifies its checksums.
    ///
    /// Refuses frames without a content size, larger than the cap, truncated, corrupt, or with
    /// bytes after the frame's end.
    package static func decompress(_ frame: [UInt8], maxDecodedBytes: Int) throws(LZ4FrameError) -> [UInt8] {
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        if LZ4F_isError(created) != 0 { throw LZ4FrameError(.resources, detail: errorName(created)) }
        defer { LZ4F_freeDecompressionContext(context) }
        let result = frame.withUnsafeBytes { source in
            Result { () throws(LZ4FrameError) in try decode(source, context: context, maxDecodedBytes: maxDecodedBytes) }
        }
        return try result.get()
    }

    private static func decode(
        _ source: UnsafeRawBufferPointer, context: OpaquePointer?, maxDecodedBytes: Int
    ) throws(LZ4FrameError) -> [UInt8] {
        var info = LZ4F_frameInfo_t()
        var consumed = source.count
        let hint = LZ4F_getFrameInfo(context, &info, source.baseAddress, &consumed)
        if LZ4F_isError(hint) != 0 { throw LZ4FrameError(.corrupt, detail: errorName(hint)) }
        guard info.contentSize > 0 || source.count - consumed <= 8 else {
            throw LZ4FrameError(.missingContentSize, detail: "frame header carries no content size")
        }
        guard info.contentSize <= UInt64(maxDecodedBytes) else {
            throw LZ4FrameError(.tooLarge, detail: "frame declares \(info.contentSize) bytes; the cap is \(maxDecodedBytes)")
        }
        let expected = Int(info.contentSize)
        // Not zero-filled first (a quarter of a megabyte a 10 000-row chunk): the frame writes
        // every byte, or the decode fails and the array is never seen.
        var failure: LZ4FrameError?
        let output = [UInt8](unsafeUninitializedCapacity: expected) { destination, initialized in
            do throws(LZ4FrameError) {
                try decode(source, from: consumed, status: hint, context: context, into: destination, expected: expected)
                initialized = expected
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return output
    }

    /// Decodes the frame's blocks after its header (`header` bytes) into `destination`, which
    /// they must fill exactly.
    private static func decode(
        _ source: UnsafeRawBufferPointer, from header: Int, status hint: Int, context: OpaquePointer?,
        into destination: UnsafeMutableBufferPointer<UInt8>, expected: Int
    ) throws(LZ4FrameError) {
        var consumed = header
        var produced = 0
        var status = hint
        while consumed < source.count {
            var sourceSize = source.count - consumed
            var destinationSize = expected - produced
            status = LZ4F_decompress(
                context, destination.baseAddress.map { $0 + produced }, &destinationSize,
                source.baseAddress! + consumed, &sourceSize, nil)
            if LZ4F_isError(status) != 0 { throw LZ4FrameError(.corrupt, detail: errorName(status)) }
            consumed += sourceSize
            produced += destinationSize
            if status == 0 { break }
            if sourceSize == 0 && destinationSize == 0 {
                // No progress with input left means the frame wants more output than it declared.
                throw LZ4FrameError(.corrupt, detail: "frame decodes to more than its declared \(expected) bytes")
            }
        }
        guard status == 0 else { throw LZ4FrameError(.truncated, detail: "frame ends before its end mark") }
        guard consumed == source.count else {
            throw LZ4FrameError(.trailingBytes, detail: "\(source.count - consumed) bytes after the frame's end")
        }
        guard produced == expected else {
            throw LZ4FrameError(.corrupt, detail: "frame decoded to \(produced) bytes but declared \(expected)")
        }
    }

    private static func errorName(_ code: Int) -> String {
        String(cString: LZ4F_getErrorName(code))
    }
}

/// Why an LZ4 frame was refused.
package struct LZ4FrameError: Error, Sendable, CustomStringConvertible {
    package enum Code: String, Sendable {
        case compression, resources, corrupt, truncated, tooLarge, missingContentSize, trailingBytes
    }

    package var code: Code
    package var detail: String

    package init(_ code: Code, detail: String) {
        self.code = code
        self.detail = detail
    }

    package var description: String { "LZ4 frame \(code.rawValue): \(detail)" }
}
