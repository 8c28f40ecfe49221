// The ILP parser, table-driven over QUESTDB-COMPAT §1.1–§1.3: every syntax rule, value type and
// malformed input, each parsed whole and split at every byte boundary with the same result.
import LineProtocol
import NIOCore
import TestSupport
import Testing

/// A parsed line as text, for comparing: `table | kind:name=value ... | ts=…`.
func describe(_ parser: LineParser, _ buffer: UnsafeRawBufferPointer) -> String {
    var parts = [LineText.string(buffer, parser.table)]
    for index in 0..<parser.entityCount {
        let entity = parser.entity(index)
        let name = LineText.string(buffer, entity.name)
        let value: String
        switch entity.kind {
        case .tag, .string, .long256: value = LineText.string(buffer, entity.range)
        case .integer, .boolean: value = "\(entity.integer)"
        case .double: value = entity.double.isNaN ? "NaN" : "\(entity.double)"
        case .timestamp: value = "\(entity.integer)\(entity.unit)"
        case .null: value = ""
        case .doubleArray: value = "\(entity.dimensions)d/\(entity.range.count)B"
        case .decimal: value = "\(entity.integer)e-\(entity.dimensions)"
        case .wideDecimal: value = "\(LineCasts.wideValue(entity, buffer).map { "\($0)" } ?? "?")e-\(entity.dimensions)"
        }
        parts.append("\(entity.kind):\(name)=\(value)")
    }
    if let timestamp = parser.timestamp { parts.append("ts=\(timestamp)\(parser.timestampUnit.map { "\($0)" } ?? "")") }
    return parts.joined(separator: " | ")
}

/// Feeds `input` in chunks cut at `cuts` and collects each line's description, or the error.
func parseStream(
    _ input: [UInt8], cuts: [Int] = [], isHTTP: Bool = true, maxLineBytes: Int = 4096, memo: LineSeriesMemo? = nil
) -> [String] {
    var stream = LineStream(maxLineBytes: maxLineBytes)
    if let memo { stream.use(memo) }
    var lines: [String] = []
    var start = 0
    do throws(LineIngestError) {
        for end in cuts + [input.count] where end >= start {
            stream.feed(ByteBuffer(bytes: input[start..<end]))
            start = end
            _ = try stream.drain { parser, buffer, number in
                lines.append("\(number): " + describe(parser, buffer))
                return nil
            }
        }
        if isHTTP {
            stream.finish()
            _ = try stream.drain { parser, buffer, number in
                lines.append("\(number): " + describe(parser, buffer))
                return nil
            }
        }
    } catch {
        lines.append("error: \(error)")
    }
    return lines
}

@Suite struct LineParserTests {
    /// (input, expected lines) — each line `number: table | kind:name=value … | ts=…`.
    static let accepted: [(String, [String])] = [
        ("t a=1i\n", ["1: t | integer:a=1"]),
        ("t a=1i", ["1: t | integer:a=1"]),
        ("t a=1.50d,b=-0.001d,c=7d,d=+99999999999999.999d\n",
         ["1: t | decimal:a=150e-2 | decimal:b=-1e-3 | decimal:c=7e-0 | decimal:d=99999999999999999e-3"]),
        // Past 18 digits (or a scale past 18) a decimal is wide: up to 76 digits.
        ("t a=12345678901234567890.5d,b=-0.0000000000000000001d,c=\(String(repeating: "9", count: 76))d\n",
         ["1: t | wideDecimal:a=123456789012345678905e-1 | wideDecimal:b=-1e-19 | wideDecimal:c=\(String(repeating: "9", count: 76))e-0"]),
        ("t,s=x a=1i 123\n", ["1: t | tag:s=x | integer:a=1 | ts=123"]),
        ("t,s=x,u=y a=-5i,b=2.5,c=\"hi\",d=t 1700000000000000000n\n",
         ["1: t | tag:s=x | tag:u=y | integer:a=-5 | double:b=2.5 | string:c=hi | boolean:d=1 | ts=1700000000000000000nanos"]),
        ("t a=1.5 10t\nt a=2 20m\r\nt a=3 30n\n", ["1: t | double:a=1.5 | ts=10micros", "2: t | double:a=2.0 | ts=20millis", "3: t | double:a=3.0 | ts=30nanos"]),
        // Empty lines (and CRLF's LF) are skipped and not counted.
        ("\n\nt a=1i\r\n\r\nu b=2i\n", ["1: t | integer:a=1", "2: u | integer:b=2"]),
        // Booleans in every accepted spelling.
        ("t a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=FALSE\n",
         ["1: t | boolean:a=1 | boolean:b=1 | boolean:c=1 | boolean:d=1 | boolean:e=1 | boolean:f=0 | boolean:g=0 | boolean:h=0 | boolean:i=0"]),
        // Doubles: integers without suffix, exponents, NaN and infinities.
        ("t a=2,b=-1e-6,c=1E+100,d=NaN,e=Infinity,f=-Infinity,g=.5,h=5.\n",
         ["1: t | double:a=2.0 | double:b=-1e-06 | double:c=1e+100 | double:d=NaN | double:e=inf | double:f=-inf | double:g=0.5 | double:h=5.0"]),
        // Integer extremes; LONG256; timestamps as fields.
        ("t a=9223372036854775807i,b=-9223372036854775807i,c=0x1a2bi,d=5t,e=6n,f=7m\n",
         ["1: t | integer:a=9223372036854775807 | integer:b=-9223372036854775807 | long256:c=1a2b | timestamp:d=5micros | timestamp:e=6nanos | timestamp:f=7millis"]),
        // Empty value: NULL, ignored.
        ("t a=,b=1i\n", ["1: t | null:a= | integer:b=1"]),
        // Escapes in names and values; a quoted string keeps spaces, commas, = and escaped quotes.
        (#"my\ table,ta\,g=v\ 1\,2\=3 f\=x="a \"q\" b,c=d \\ e" 1"# + "\n",
         [#"1: my table | tag:ta,g=v 1,2=3 | string:f=x=a "q" b,c=d \ e | ts=1"#]),
        // Backslash + newline in a string is a literal newline; `\n` is the letter n.
        ("t s=\"a\\\nb\\nc\"\n", ["1: t | string:s=a\nbnc"]),
        // A double quote inside a tag value is literal.
        ("t,s=a\"b f=1i\n", ["1: t | tag:s=a\"b | integer:f=1"]),
        // Tags only, with and without a timestamp.
        ("t,s=x\nt,s=y 42\n", ["1: t | tag:s=x", "2: t | tag:s=y | ts=42"]),
        // Non-ASCII passes through.
        ("mesures,lieu=Zürich température=21.5\n", ["1: mesures | tag:lieu=Zürich | double:température=21.5"]),
        // A trailing space after the fields: no timestamp.
        ("t a=1i \n", ["1: t | integer:a=1"]),
        // Duplicate fields are all reported (the ingestor keeps the first).
        ("t a=1i,a=2i\n", ["1: t | integer:a=1 | integer:a=2"]),
        // Negative trailing timestamp parses (the ingestor refuses it with QuestDB's message).
        ("t a=1i -1\n", ["1: t | integer:a=1 | ts=-1"]),
    ]

    /// (input, expected error text)
    static let refused: [(String, String)] = [
        ("t\n", "error in line 1: No fields were provided"),
        ("t \n", "error in line 1: No fields were provided"),
        ("t 123\n", "error in line 1: No fields were provided"),
        ("t a\n", "error in line 1: No fields were provided"),
        ("t a=1i,b\n", "error in line 1: Could not parse entire line. Field value is missing: b"),
        ("t a=1i,b 12\n", "error in line 1: Could not parse entire line. Field value is missing: b"),
        ("t,s a=1i\n", "error in line 1: Could not parse entire line. Symbol value is missing: s"),
        ("t,s= a=1i\n", "error in line 1: Could not parse entire line. Symbol value is missing: s"),
        ("t a=1i 12x\n", "error in line 1: Could not parse timestamp: 12x"),
        ("t a=1i 1 2\n", "error in line 1: Could not parse timestamp: 1 2"),
        ("t a=1i 99999999999999999999\n", "error in line 1: Could not parse timestamp: 99999999999999999999"),
        ("t a=abc\n", "error in line 1: Could not parse entire line, field value is invalid. Field: a; value: abc"),
        ("t a=12x\n", "error in line 1: Could not parse entire line, field value is invalid. Field: a; value: 12x"),
        ("t a=9223372036854775808i\n", "error in line 1: Could not parse entire line, field value is invalid. Field: a; value: 9223372036854775808i"),
        ("t a=1.2.3\n", "error in line 1: Could not parse entire line, field value is invalid. Field: a; value: 1.2.3"),
        ("t a=0x1p3\n", "error in line 1: Could not parse entire line, field value is invalid. Field: a; value: 0x1p3"),
        ("t a=inf\n", "error in line 1: Could not parse entire line, field value is invalid. Field: a; value: inf"),
        ("t a=0xzzi\n", "error in line 1: Could not parse entire line, field value is invalid. Field: a; value: 0xzzi"),
        ("t a=\"open\n", "error in line 1: Could not parse entire line, field value is invalid. Field: a; value: open"),
        ("t a=\"x\"y\n", "error in line 1: INVALID_FIELD_SEPARATOR"),
        ("t =1i\n", "error in line 1: table: t; invalid column name: "),
        ("t,=v a=1i\n", "error in line 1: table: t; invalid column name: "),
        (",s=v a=1i\n", "error in line 1: INVALID_TABLE_NAME"),
        (" a=1i\n", "error in line 1: INVALID_TABLE_NAME"),
        ("t a=\(String(repeating: "1", count: 77))d\n", "error in line 1: table: t, column: a; DECIMAL values have at most 76 digits and a scale of at most 76"),
        ("t a=5I\n", "error in line 1: Could not parse entire line, field value is invalid. Field: a; value: 5I"),
        ("t a=1.2.3d\n", "error in line 1: Could not parse entire line, field value is invalid. Field: a; value: 1.2.3d"),
        ("t a=.d\n", "error in line 1: Could not parse entire line, field value is invalid. Field: a; value: .d"),
        ("t a=\u{0}1i\n", "error in line 1: Could not parse entire line, field value is invalid. Field: ; value: "),
        // The error line number counts only non-empty lines before it.
        ("t a=1i\n\nt b=2i\nt c=x\n", "error in line 3: Could not parse entire line, field value is invalid. Field: c; value: x"),
    ]

    @Test(arguments: accepted.indices) func acceptsWholeAndSplitAtEveryByte(_ index: Int) {
        let (input, expected) = Self.accepted[index]
        let bytes = Array(input.utf8)
        #expect(parseStream(bytes) == expected, "\(input.debugDescription)")
        for cut in 0...bytes.count {
            #expect(parseStream(bytes, cuts: [cut]) == expected, "\(input.debugDescription) cut at \(cut)")
        }
        #expect(parseStream(bytes, cuts: Array(0...bytes.count)) == expected, "\(input.debugDescription) one byte at a time")
    }

    @Test(arguments: refused.indices) func refusesWholeAndSplitAtEveryByte(_ index: Int) {
        let (input, expected) = Self.refused[index]
        let bytes = Array(input.utf8)
        #expect(parseStream(bytes).last == "error: \(expected)", "\(input.debugDescription)")
        for cut in 0...bytes.count {
            #expect(parseStream(bytes, cuts: [cut]).last == "error: \(expected)", "\(input.debugDescription) cut at \(cut)")
        }
    }

    /// The series memo (a line whose key — table and tags — was seen before copies them
    /// instead of tokenizing) changes no answer: every accepted and refused input, twice in a
    /// row, parses as without a memo, whole and split at every byte, with a fresh memo and
    /// with one that saw the input before.
    @Test(arguments: accepted.map(\.0) + refused.map(\.0))
    func aSeriesMemoChangesNoAnswer(_ input: String) {
        let bytes = Array((input + "\n" + input).utf8)
        let expected = parseStream(bytes)
        let warmed = LineSeriesMemo()
        #expect(parseStream(bytes, memo: warmed) == expected, "\(input.debugDescription)")
        for cut in 0...bytes.count {
            #expect(parseStream(bytes, cuts: [cut], memo: LineSeriesMemo()) == expected, "\(input.debugDescription) cut at \(cut)")
            #expect(parseStream(bytes, cuts: [cut], memo: warmed) == expected, "\(input.debugDescription) warm, cut at \(cut)")
        }
    }

    /// Repeated keys are found (same id, one series each), keys differing in any byte or with
    /// an escape are not the same series, and a key with a byte invalid in UTF-8 is refused on
    /// every line, not only the first.
    @Test func repeatedSeriesKeysAreRecognised() {
        let memo = LineSeriesMemo()
        var parser = LineParser()
        parser.seriesMemo = memo
        let lines = [
            "cpu,host=a,dc=x v=1i 1", "cpu,host=b,dc=x v=2i 2", "cpu,host=a,dc=x v=3i 3",
            "cpu,host=a,dc=y v=4i 4", "cpu2,host=a,dc=x v=5i 5", #"c\ pu,host=a v=6i 6"#, #"c\ pu,host=a v=7i 7"#,
            "cpu,host=a,dc=x v=8i 8",
        ]
        var ids: [Int] = []
        var described: [String] = []
        let text = Array((lines.joined(separator: "\n") + "\n").utf8)
        text.withUnsafeBytes { buffer in
            var offset = 0
            while case .line(let end) = parser.parse(buffer, from: offset, isFinal: true) {
                ids.append(parser.seriesID)
                described.append("\(ids.count): " + describe(parser, buffer))
                offset = end
            }
        }
        #expect(described == parseStream(text))
        #expect(ids[0] >= 0 && ids[0] == ids[2] && ids[0] == ids[7])
        #expect(Set([ids[0], ids[1], ids[3], ids[4]]).count == 4)
        #expect(ids[5] == -1 && ids[6] == -1)
        #expect(memo.seriesCount == 4)

        // A known ASCII key with non-ASCII text after it: the UTF-8 check reads the line's tags,
        // which must be this line's (here a stale entity would point into the middle of `é`).
        var outcomes: [String] = []
        for text in ["t,s=x a=1i\n", "uvwxyz a=\"x\"\n", "t,s=x a=\"éé\"\n"] {
            Array(text.utf8).withUnsafeBytes { buffer in
                switch parser.parse(buffer, from: 0, isFinal: true) {
                case .line: outcomes.append((parser.seriesID >= 0 ? "known " : "") + describe(parser, buffer))
                default: outcomes.append("refused")
                }
            }
        }
        #expect(outcomes == ["known t | tag:s=x | integer:a=1", "uvwxyz | string:a=x", "known t | tag:s=x | string:a=éé"])

        let refusal = "the line is not valid UTF-8 (names and text values must be)"
        let bad = Array("t,s=".utf8) + [0xC0, 0x80] + Array(" a=1i\n".utf8)
        let badMemo = LineSeriesMemo()
        let answers = (0..<3).map { _ in parseStream(bad, memo: badMemo).last ?? "" }
        #expect(answers.allSatisfy { $0.hasSuffix(refusal) }, "\(answers)")
        let good = Array("t,s=Zürich a=1i\n".utf8)
        #expect(parseStream(good + good, memo: LineSeriesMemo()) == ["1: t | tag:s=Zürich | integer:a=1", "2: t | tag:s=Zürich | integer:a=1"])
    }

    /// More series than the memo holds: it starts a new generation and goes on (ids are never
    /// reused within one). A stream of ever new series makes it rest instead. Every line
    /// parses as without a memo.
    @Test func aFullSeriesMemoStartsAgainAndAFruitlessOneRests() {
        let memo = LineSeriesMemo()
        let count = 5_000
        // Each series twice in a row: half the lines find their key.
        let text = Array((0..<2 * count).map { "w,a=a\($0 / 2) v=\($0)i \($0 + 1)\n" }.joined().utf8)
        var parser = LineParser()
        parser.seriesMemo = memo
        var seen: [UInt64: Set<Int>] = [:]
        var lines = 0
        var previous = (generation: UInt64(0), id: -1)
        text.withUnsafeBytes { buffer in
            var offset = 0
            while case .line(let end) = parser.parse(buffer, from: offset, isFinal: true) {
                #expect(parser.seriesID >= 0)
                if lines % 2 == 0 {
                    #expect(seen[parser.seriesGeneration, default: []].insert(parser.seriesID).inserted)
                } else {
                    #expect(previous == (parser.seriesGeneration, parser.seriesID))
                }
                previous = (parser.seriesGeneration, parser.seriesID)
                lines += 1
                offset = end
            }
        }
        #expect(lines == 2 * count)
        #expect(seen.count == 2)
        #expect(seen.values.map(\.count).reduce(0, +) == count)
        #expect(seen.values.map(\.count).max() == LineSeriesMemo.maxSeries)
        #expect(memo.seriesCount == count - LineSeriesMemo.maxSeries)
        #expect(parseStream(text, memo: LineSeriesMemo()) == parseStream(text))

        let fresh = Array((0..<count).map { "f,a=a\($0) v=\($0)i \($0 + 1)\n" }.joined().utf8)
        let resting = LineSeriesMemo()
        parser.seriesMemo = resting
        var remembered = 0
        fresh.withUnsafeBytes { buffer in
            var offset = 0
            while case .line(let end) = parser.parse(buffer, from: offset, isFinal: true) {
                if parser.seriesID >= 0 { remembered += 1 }
                offset = end
            }
        }
        #expect(remembered == LineSeriesMemo.fruitlessLimit)
        #expect(parseStream(fresh, memo: LineSeriesMemo()) == parseStream(fresh))
    }

    /// Integers of every length around the eight-at-a-time path (16+ digits), with signs,
    /// leading zeros, the Int64 limits and one past them, and a bad byte at every position,
    /// as field values and as trailing timestamps: each parses to what `Int64(text)` gives,
    /// or is refused.
    @Test func longIntegersParseExactly() {
        var random = SplitMix64(seed: 99)
        var texts = ["9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
                     "18446744073709551615", "99999999999999999999", "0000000000000000000000012", "+1234567890123456"]
        for digits in 1...21 {
            for _ in 0..<40 {
                var text = (0..<digits).map { _ in String(Int.random(in: 0...9, using: &random)) }.joined()
                switch Int.random(in: 0..<4, using: &random) {
                case 0: text = "-" + text
                case 1: text = "+" + text
                default: break
                }
                texts.append(text)
            }
        }
        for position in 0..<19 {
            for bad in ["/", ":", "x", "\u{7F}", "."] {
                var bytes = Array("1451606400000000000")
                bytes[position] = Character(bad)
                texts.append(String(bytes))
            }
        }
        for text in texts {
            let field = parseStream(Array("t a=\(text)i\n".utf8))
            let stamp = parseStream(Array("t a=1i \(text)\n".utf8))
            if let value = Int64(text) {
                #expect(field == ["1: t | integer:a=\(value)"], "\(text)")
                #expect(stamp == ["1: t | integer:a=1 | ts=\(value)"], "\(text)")
            } else {
                #expect(field.count == 1 && field[0].hasPrefix("error:"), "\(text): \(field)")
                #expect(stamp == ["error: error in line 1: Could not parse timestamp: \(text)"], "\(text)")
            }
        }
    }

    @Test func invalidUTF8IsRefusedAndValidUTF8SplitAnywhereIsNot() {
        let invalid: [[UInt8]] = [[0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xE2, 0x82]]
        for sequence in invalid {
            for line in [Array("t,s=".utf8) + sequence + Array(" a=1i\n".utf8), Array("t a=\"".utf8) + sequence + Array("\"\n".utf8),
                         Array("t".utf8) + sequence + Array(" a=1i\n".utf8), Array("t a".utf8) + sequence + Array("=1i\n".utf8)] {
                #expect(parseStream(line).last?.hasSuffix("the line is not valid UTF-8 (names and text values must be)") == true, "\(line)")
            }
        }
        // A 4-byte character cut 1+3, 2+2, 3+1 across chunks is still one valid character.
        let emoji = Array("t s=\"😀\"\n".utf8)
        for cut in 5...8 {
            #expect(parseStream(emoji, cuts: [cut]) == ["1: t | string:s=😀"])
        }
    }

    /// The UTF-8 check rides on the token scans' 64-byte blocks: a bad sequence must be found
    /// wherever the blocks fall — in a tag value, in a string, in a name after a quoted string
    /// or a binary payload the blocks skipped — and high bytes in a binary payload or in the
    /// next line must not refuse a valid one.
    @Test func invalidUTF8IsFoundWhereverTheScanBlocksFall() {
        let bad: [UInt8] = [0xC0, 0x80]
        let minusTwo: [UInt8] = [16, 0, 0, 0, 0, 0, 0, 0, 0xC0]  // binary DOUBLE -2.0
        let refusal = "the line is not valid UTF-8 (names and text values must be)"
        for pad in 1...140 {
            let filler = String(repeating: "p", count: pad)
            let lines: [[UInt8]] = [
                Array("t,\(filler)=x,s=".utf8) + bad + Array(" a=1i\n".utf8),
                Array("t s=\"\(filler)\",".utf8) + bad + Array("=1i\n".utf8),
                Array("t a==".utf8) + minusTwo + Array(",\(filler)".utf8) + bad + Array("=1i\n".utf8),
                Array("t \(filler)=1i,b=\"".utf8) + bad + Array("\"\n".utf8),
                Array("t \(filler)=1i,b=2i,".utf8) + bad + Array("=1i\n".utf8),
                Array("t s=\"\(filler)".utf8) + bad + Array("\",b=1i\n".utf8),
            ]
            for line in lines {
                #expect(parseStream(line).last?.hasSuffix(refusal) == true, "pad \(pad): \(line)")
            }
            let fine = Array("t,\(filler)=x a=1i\nt s=\"é\"\n".utf8)
            #expect(parseStream(fine) == ["1: t | tag:\(filler)=x | integer:a=1", "2: t | string:s=é"], "pad \(pad)")
            let binary = Array("t a==".utf8) + minusTwo + Array(",\(filler)b=1i\n".utf8)
            #expect(parseStream(binary) == ["1: t | double:a=-2.0 | integer:\(filler)b=1"], "pad \(pad)")
        }
    }

    /// Random damage to long, valid lines (seeded): whatever the bytes, the parser answers the
    /// same whole, cut at a random byte and cut at three, and never traps — the 64-byte scan
    /// blocks meet stop bytes, escapes, quotes, NULs and high bytes at every offset.
    @Test func damagedLinesParseTheSameWholeAndSplit() {
        let alphabet = Array(",= \\\"\n\r\u{0}0123456789.-iatTfen".utf8) + [0xC3, 0xA9, 0xC0, 0x80, 0xFF]
        let template = Array(("cpu,hostname=host_12,region=eu-central-1,datacenter=eu-central-1a,rack=6 "
            + "usage_user=58i,usage_system=2.5,usage_idle=-24i,s=\"a b,c=d\",ok=t,big=9223372036854775807i 1451606400000000000\n").utf8)
        var random = SplitMix64(seed: 17)
        let memo = LineSeriesMemo()
        _ = parseStream(template, memo: memo)
        for _ in 0..<3_000 {
            var bytes = template + template
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[at] = alphabet.randomElement(using: &random)!
                case 1: bytes.insert(alphabet.randomElement(using: &random)!, at: at)
                default: bytes.remove(at: at)
                }
            }
            let whole = parseStream(bytes)
            let cut = Int.random(in: 0...bytes.count, using: &random)
            #expect(parseStream(bytes, cuts: [cut]) == whole, "\(bytes) cut at \(cut)")
            // A memo that saw the undamaged lines (and every damaged line before) changes nothing.
            #expect(parseStream(bytes, cuts: [cut], memo: memo) == whole, "\(bytes) cut at \(cut), with a memo")
            let cuts = (0..<3).map { _ in Int.random(in: 0...bytes.count, using: &random) }.sorted()
            #expect(parseStream(bytes, cuts: cuts) == whole, "\(bytes) cut at \(cuts)")
        }
    }

    /// A fault found past the size limit is the limit, wherever the stream is cut: cut before
    /// the fault, the parser can only say the line is too long (a fuzzer found the two answers
    /// differing). A fault within the limit is the fault, even on a longer line.
    @Test func aFaultPastTheLimitIsTheLimitWhereverTheStreamIsCut() {
        let tooLong = "error: error in line 1: line is longer than the maximum line size of 64 bytes"
        let pastLimit = Array(("t a=" + String(repeating: "x", count: 80) + " 1\n").utf8)
        let withinLimit = Array(("t a=xyz,b=" + String(repeating: "1", count: 80) + "i\n").utf8)
        let fault = "error: error in line 1: Could not parse entire line, field value is invalid. Field: a; value: xyz"
        // A lone token after the tags is read up to its unescaped end (past the limit here),
        // then again as a timestamp, which stops at the escaped newline: the line was read
        // past the limit all the same.
        let rereadPastLimit = Array(("t,a=b 1\\\n" + String(repeating: "y", count: 80) + "\n").utf8)
        for isHTTP in [true, false] {
            for cut in 0...pastLimit.count {
                #expect(parseStream(pastLimit, cuts: [cut], isHTTP: isHTTP, maxLineBytes: 64) == [tooLong], "cut at \(cut)")
            }
            for cut in 0...rereadPastLimit.count {
                #expect(parseStream(rereadPastLimit, cuts: [cut], isHTTP: isHTTP, maxLineBytes: 64) == [tooLong], "cut at \(cut)")
            }
            for cut in 0...withinLimit.count {
                #expect(parseStream(withinLimit, cuts: [cut], isHTTP: isHTTP, maxLineBytes: 64) == [fault], "cut at \(cut)")
            }
        }
    }

    @Test func aLineLongerThanTheLimitIsRefusedEvenBeforeItEnds() {
        let long = Array("t a=\"".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 200)
        let result = parseStream(long, cuts: [50, 100, 150], isHTTP: false, maxLineBytes: 64)
        #expect(result == ["error: error in line 1: line is longer than the maximum line size of 64 bytes"])
    }

    /// Tokens are found sixteen bytes at a time: every token length from 1 to 40, with each stop
    /// byte (and an escape) at every position of a window, and the buffer ending anywhere, must
    /// give the same tokens as the grammar says.
    @Test func tokensOfEveryLengthAcrossScanWindows() {
        for length in 1...40 {
            let name = String(repeating: "n", count: length)
            let text = String(repeating: "v", count: length)
            let escaped = String(repeating: "e", count: length - 1) + "\\ x"
            let line = "t\(name),\(name)=\(text) \(name)=\"\(text)\",q=\"\(escaped)\",\(name)x=\(text)x=y\r\n"
            let expected = ["1: t\(name) | tag:\(name)=\(text) | string:\(name)=\(text) | string:q=\(String(repeating: "e", count: length - 1)) x | "
                            + "double:\(name)x=\(text)x=y"]
            let bytes = Array(line.utf8)
            let whole = parseStream(bytes)
            // `…x=y` is not a number: the line is refused, naming the whole value the scan found.
            #expect(whole == ["error: error in line 1: Could not parse entire line, field value is invalid. Field: \(name)x; value: \(text)x=y"],
                    "length \(length)")
            for cut in stride(from: 0, through: bytes.count, by: 3) {
                #expect(parseStream(bytes, cuts: [cut]) == whole, "length \(length) cut at \(cut)")
            }
            let valid = Array("t\(name),\(name)=\(text) \(name)=\"\(text)\",q=\"\(escaped)\"\n".utf8)
            #expect(parseStream(valid) == [String(expected[0].dropLast(" | double:\(name)x=\(text)x=y".count))], "length \(length)")
        }
    }

    @Test func linesWithManyFieldsGrowTheEntityBuffer() {
        let fields = (0..<300).map { "f\($0)=\($0)i" }.joined(separator: ",")
        let result = parseStream(Array("wide \(fields)\nnarrow a=1i\n".utf8), cuts: [1000, 2000])
        #expect(result.count == 2)
        #expect(result[0].hasSuffix("integer:f298=298 | integer:f299=299"))
        #expect(result[1] == "2: narrow | integer:a=1")
    }

    @Test func tcpStreamsKeepAnUnterminatedLastLineWaiting() {
        #expect(parseStream(Array("t a=1i\nt b=2i".utf8), isHTTP: false) == ["1: t | integer:a=1"])
    }
}

@Suite struct LineParserBinaryTests {
    static func double(_ value: Double) -> [UInt8] { [UInt8(ascii: "="), 16] + withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }

    static func array(shape: [UInt32], values: [Double]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "="), 14, 10, UInt8(shape.count)]
        for length in shape { bytes += withUnsafeBytes(of: length.littleEndian) { Array($0) } }
        for value in values { bytes += withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
        return bytes
    }

    /// Binary payloads may hold newline, comma, space and quote bytes: 10.0 is 0x…24 40, and
    /// the bit pattern below has 0x0a, 0x2c, 0x20 and 0x22 in it.
    static let awkward = Double(bitPattern: 0x4022_202C_0A0A_2C20)

    static let cases: [([UInt8], [String])] = [
        (Array("t d=".utf8) + double(2.5) + Array(",e=".utf8) + double(awkward) + Array(" 5n\n".utf8),
         ["1: t | double:d=2.5 | double:e=\(awkward) | ts=5nanos"]),
        (Array("t a=".utf8) + array(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]) + Array("\n".utf8),
         ["1: t | doubleArray:a=2d/57B"]),
        (Array("t a==".utf8) + [14, 10, 0] + Array(",b=1i\n".utf8), ["1: t | doubleArray:a=0d/0B | integer:b=1"]),
        (Array("t a=".utf8) + array(shape: [0], values: []) + Array("\n".utf8), ["1: t | doubleArray:a=1d/5B"]),
        // DECIMAL (v3): scale, length, big-endian two's complement; sign extension past 8 bytes.
        (Array("t a==".utf8) + [23, 3, 8, 0x01, 0x63, 0x45, 0x78, 0x5D, 0x89, 0xFF, 0xFF] + Array(",b==".utf8) + [23, 1, 2, 0xFF, 0xF1]
            + Array(",c==".utf8) + [23, 2, 10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x9C] + Array(",d==".utf8) + [23, 0, 1, 0]
            + Array("\n".utf8),
         ["1: t | decimal:a=99999999999999999e-3 | decimal:b=-15e-1 | decimal:c=-100e-2 | decimal:d=0e-0"]),
        // Past 8 significant bytes the value is wide (and read when it is written): 2^64, a
        // negative 9-byte value, and the most negative 32-byte one.
        (Array("t a==".utf8) + [23, 0, 9, 0x01, 0, 0, 0, 0, 0, 0, 0, 0] + Array(",b==".utf8) + [23, 2, 9, 0xFF, 0x7F, 0, 0, 0, 0, 0, 0, 0]
            + Array(",c==".utf8) + [23, 0, 32, 0x80] + [UInt8](repeating: 0, count: 31) + Array("\n".utf8),
         ["1: t | wideDecimal:a=18446744073709551616e-0 | wideDecimal:b=-9295429630892703744e-2"
            + " | wideDecimal:c=-57896044618658097711785492504343953926634992332820282019728792003956564819968e-0"]),
        (Array("t a==".utf8) + [3, 0xFF, 0xFF, 0xFF, 0x7F] + Array(",b==".utf8) + [6, 1] + Array(",c==".utf8) + [13, 2]
            + withUnsafeBytes(of: Int64(77).littleEndian) { Array($0) } + Array("\n".utf8),
         ["1: t | integer:a=2147483647 | boolean:b=1 | timestamp:c=77micros"]),
    ]

    @Test(arguments: cases.indices) func binaryValuesWholeAndSplitAtEveryByte(_ index: Int) {
        let (bytes, expected) = Self.cases[index]
        #expect(parseStream(bytes) == expected)
        for cut in 0...bytes.count {
            #expect(parseStream(bytes, cuts: [cut]) == expected, "cut at \(cut)")
        }
    }

    @Test func malformedBinaryValuesAreRefused() {
        let truncated = Array("t d==".utf8) + [16, 1, 2, 3]
        #expect(parseStream(truncated).last == "error: error in line 1: Could not parse entire line, field value is invalid. Field: d; value: ")
        let badType = Array("t d==".utf8) + [99, 1, 2]
        #expect(parseStream(badType).last == "error: error in line 1: UNSUPPORTED_BINARY_FORMAT")
        // DECIMAL: a length of 0 or above 32 is malformed; a value past 18 digits is refused clearly.
        let emptyDecimal = Array("t d==".utf8) + [23, 3, 0] + Array("\n".utf8)
        #expect(parseStream(emptyDecimal).last == "error: error in line 1: UNSUPPORTED_BINARY_FORMAT")
        let tooLargeScale = Array("t d==".utf8) + [23, 77, 1, 0x01] + Array("\n".utf8)
        #expect(parseStream(tooLargeScale).last?.contains("DECIMAL values have at most 76 digits") == true)
        let tooManyDigits = Array("t d=\(String(repeating: "1", count: 77))d\n".utf8)
        #expect(parseStream(tooManyDigits).last?.contains("DECIMAL values have at most 76 digits") == true)
        let longArrays = Array("t a==".utf8) + [14, 11, 1, 1, 0, 0, 0] + Self.double(1).dropFirst(2) + Array("\n".utf8)
        #expect(parseStream(longArrays).last == "error: error in line 1: ARRAY_UNSUPPORTED_ELEMENT_TYPE")
        let tooManyDimensions = Array("t a==".utf8) + [14, 10, 33] + Array("\n".utf8)
        #expect(parseStream(tooManyDimensions).last == "error: error in line 1: ARRAY_INVALID")
        let hugeShape = Array("t a==".utf8) + [14, 10, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + Array("\n".utf8)
        #expect(parseStream(hugeShape).last == "error: error in line 1: ARRAY_INVALID")
        let noSeparator = Array("t d=".utf8) + Self.double(1) + Array("x\n".utf8)
        #expect(parseStream(noSeparator).last == "error: error in line 1: INVALID_FIELD_SEPARATOR")
    }
}
