import CZlib
import NIOCore

/// Streaming gzip decompression of a request body (`Content-Encoding: gzip`), with a cap on
/// the inflated size so a small compressed body cannot expand without bound (a "zip bomb").
final class GzipInflater {
    enum Failure: Error {
        case initialisation
        case corrupt(String)
        case tooLarge(limit: Int)
    }

    private var stream = z_stream()
    private let maxOutputBytes: Int
    private var produced = 0
    private var finished = false
    private var output: [UInt8]

    init(maxOutputBytes: Int) throws(Failure) {
        self.maxOutputBytes = maxOutputBytes
        output = [UInt8](repeating: 0, count: 64 * 1024)
        // windowBits 15 + 16: expect a gzip header and trailer (CRC-32 and length checked).
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .initialisation
        }
    }

    deinit {
        inflateEnd(&stream)
    }

    /// Inflates one received chunk; the result may be empty (header bytes, or more input needed).
    func inflate(_ input: ByteBuffer) throws(Failure) -> ByteBuffer {
        var result = ByteBuffer()
        guard input.readableBytes > 0 else { return result }
        if finished { throw .corrupt("bytes after the end of the gzip stream") }
        let status: Result<Void, Failure> = input.withUnsafeReadableBytes { raw in
            stream.next_in = UnsafeMutablePointer(mutating: raw.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(raw.count)
            defer {
                stream.next_in = nil
                stream.avail_in = 0
            }
            repeat {
                let code = output.withUnsafeMutableBytes { out -> Int32 in
                    stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = uInt(out.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let count = output.count - Int(stream.avail_out)
                produced += count
                if produced > maxOutputBytes { return .failure(.tooLarge(limit: maxOutputBytes)) }
                result.writeBytes(output[0..<count])
                switch code {
                case Z_OK: break
                case Z_BUF_ERROR where count == 0: break  // needs more input
                case Z_BUF_ERROR: break
                case Z_STREAM_END: finished = true
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "error \(code)"
                    return .failure(.corrupt(message))
                }
                // Go on while input is left, or while the output filled up (more may be pending).
                if code == Z_BUF_ERROR && count == 0 { break }
            } while !finished && (stream.avail_in > 0 || stream.avail_out == 0)
            if finished && stream.avail_in > 0 { return .failure(.corrupt("bytes after the end of the gzip stream")) }
            return .success(())
        }
        try status.get()
        return result
    }

    /// Checks that the whole gzip stream (with its trailer) arrived.
    func finish() throws(Failure) {
        guard finished else { throw .corrupt("the gzip stream ends early") }
    }
}
