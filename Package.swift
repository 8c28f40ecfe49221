// swift-tools-version:6.0
// Sundial: a QuestDB-compatible, replicated time-series database node.
// Targets follow Docs/ARCHITECTURE.md; a module is added when its first real code lands.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// Hot-path modules skip Swift's dynamic exclusivity checks in release builds (decision 0007):
/// they cost ~40 % of building row batches. Debug builds, which run the tests, keep them.
let hotPathSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
    name: "sundial",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sundial", targets: ["sundial"]),
        .executable(name: "sundial-storage-bench", targets: ["StorageBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // System libraries.
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),

        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),

        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),

        // Hardware CRC-32C (one C function; decision 0006).
        .target(name: "CCRC32C"),
        // ILP token scanning sixteen bytes at a time (static inline C; decision 0017).
        .target(name: "CByteScan"),
        // sync_file_range and mallopt, which Swift's Glibc module does not expose (decisions 0035, 0036).
        .target(name: "CFileIO"),

        // Layers, bottom up (Docs/ARCHITECTURE.md §"Dependency rules").
        .target(
            name: "Storage",
            dependencies: ["CCRC32C", "CFileIO", .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "SQL",
            dependencies: [
                "Storage",
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "LineProtocol",
            dependencies: [
                "Storage",
                "CByteScan",
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "PostgresWire",
            dependencies: [
                "SQL",
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "Replication",
            dependencies: [
                "Storage",
                "CLZ4",
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HTTPAPI",
            dependencies: [
                "LineProtocol",
                "SQL",
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Node",
            dependencies: [
                "Storage",
                "SQL",
                "PostgresWire",
                "HTTPAPI",
                "LineProtocol",
                "Replication",
                "CFileIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "sundial",
            dependencies: [
                "Node",
                "PostgresWire",
                "SQL",
                "Storage",
                "HTTPAPI",
                "LineProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // Tool: storage benchmarks (`make bench`) and the kill -9 crash writer.
        .executableTarget(
            name: "StorageBench",
            dependencies: [
                "Storage",
                "LineProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // Tool: the ILP and PG wire parsers under libFuzzer (`make fuzz`; RELIABILITY §5.1).
        // A plain build is a replayer of saved inputs.
        .executableTarget(
            name: "WireFuzz",
            dependencies: [
                "LineProtocol",
                "PostgresWire",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TestSupport",
            dependencies: ["Storage"],
            swiftSettings: swiftSettings
        ),

        // Tests: one target per module.
        .testTarget(
            name: "StorageTests",
            dependencies: ["Storage", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LineProtocolTests",
            dependencies: ["LineProtocol", "Storage", "TestSupport"],
            exclude: ["Interop"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SQLTests",
            dependencies: ["SQL", "Storage", "TestSupport"],
            exclude: ["Cases"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PostgresWireTests",
            dependencies: [
                "PostgresWire", "SQL", "Storage", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ReplicationTests",
            dependencies: [
                "Replication", "Storage", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HTTPAPITests",
            dependencies: [
                "HTTPAPI",
                "LineProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NodeTests",
            dependencies: [
                "Node", "Storage", "HTTPAPI", "LineProtocol", "PostgresWire", "Replication", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
