/// How the WAL is made durable and how large its pieces may be; `Node` builds it from
/// `cairo.commit.mode` and the WAL keys.
package struct WALConfiguration: Sendable {
    /// When an acknowledged commit is on stable storage.
    package enum CommitMode: String, Sendable, CaseIterable {
        /// fsync (group commit) before the commit returns; directory fsync on segment creation.
        case sync
        /// Return at once; a background fsync follows within `asyncSyncIntervalMillis`.
        case async
        /// Leave flushing to the operating system.
        case nosync
    }

    package var commitMode: CommitMode
    /// A segment is sealed and a new one started once it reaches this size.
    package var segmentSizeBytes: Int
    /// Largest record payload accepted (one batch or schema change).
    package var maxRecordBytes: Int
    /// Upper bound on the time an `async` commit stays unsynced.
    package var asyncSyncIntervalMillis: Int
    /// Most purged segments kept as spares for new segments to reuse (decision 0030); 0 deletes
    /// every purged segment.
    package var recycledSegments: Int

    package init(
        commitMode: CommitMode = .sync, segmentSizeBytes: Int = 64 << 20, maxRecordBytes: Int = 256 << 20,
        asyncSyncIntervalMillis: Int = 100, recycledSegments: Int = 8
    ) {
        precondition(segmentSizeBytes > WALSegmentHeader.size, "segment size must exceed the segment header")
        self.commitMode = commitMode
        self.segmentSizeBytes = segmentSizeBytes
        self.maxRecordBytes = maxRecordBytes
        self.asyncSyncIntervalMillis = asyncSyncIntervalMillis
        self.recycledSegments = recycledSegments
    }
}

/// Where a record ends in the log: replication reports and resumes by these.
package struct WALPosition: Sendable, Equatable, Comparable {
    package var txn: UInt64
    /// First txn of the segment holding the record (names the file).
    package var segmentFirstTxn: UInt64
    /// Byte offset just past the record within that segment.
    package var endOffset: Int

    package static func < (lhs: WALPosition, rhs: WALPosition) -> Bool { lhs.txn < rhs.txn }
}

/// A segment as recovery found it.
package struct WALSegmentInfo: Sendable, Equatable {
    package var path: String
    package var firstTxn: UInt64
    /// `firstTxn - 1` when the segment holds no record yet.
    package var lastTxn: UInt64
    package var sizeBytes: Int
}
