// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "metron",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "metron", targets: ["metron"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries: each imported by exactly one Swift module.
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CGSL", providers: [.apt(["libgsl-dev"])]),
        .systemLibrary(name: "CLinux"),

        // The release number and the source revision, embedded at build time by the plugin.
        .plugin(name: "EmbedRevision", capability: .buildTool(), path: "Sources/EmbedRevision"),
        .target(name: "MetronVersion", plugins: ["EmbedRevision"]),

        // Statistics, fitting and random numbers (the only importer of GSL).
        .target(name: "MetronStats", dependencies: ["CGSL"]),
        // Records, workloads, metrics and SLOs: pure, no I/O.
        .target(name: "MetronModel", dependencies: ["MetronStats"]),
        // The libcurl load generator (the only importer of libcurl and CLinux).
        .target(name: "MetronLoad", dependencies: ["MetronModel", "CCurl", "CLinux"]),
        // The serving model of the simulator, in virtual time: pure.
        .target(name: "MetronSimModel", dependencies: ["MetronModel", "MetronStats"]),
        // The simulator's HTTP front on SwiftNIO.
        .target(name: "MetronSim", dependencies: [
            "MetronSimModel", "MetronModel", "MetronStats",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // The capacity search: probe placement, verdicts, the fitted curve and its interval. It asks a
        // ProbeRunner for records and knows no transport.
        .target(name: "MetronSearch", dependencies: ["MetronModel", "MetronStats"]),
        // Results on disk: JSON/CSV writers and readers, terminal tables.
        .target(name: "MetronReport", dependencies: ["MetronModel", "MetronStats", "MetronSearch"]),
        // Sweeps: the sweep file, probe runners over HTTP and virtual time, the probe cache, prefill
        // profiling, searches run side by side. The only module that sees every transport.
        .target(name: "MetronSweep", dependencies: [
            "MetronModel", "MetronStats", "MetronLoad", "MetronSimModel", "MetronSim", "MetronSearch", "MetronReport", "MetronVersion",
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "metron", dependencies: [
            "MetronModel", "MetronLoad", "MetronSim", "MetronSimModel", "MetronSearch", "MetronSweep", "MetronReport", "MetronVersion",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Every test double shipped as code, for the tests and the benchmarks (which is why it must never
        // depend on the `metron` executable).
        .target(name: "MetronTestSupport", dependencies: [
            "MetronStats", "MetronModel", "MetronLoad", "MetronSimModel", "MetronSim", "MetronSearch", "MetronSweep",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // Benchmarks that print figures (bench/run.sh).
        .executableTarget(name: "metron-bench", dependencies: [
            "MetronModel", "MetronReport", "MetronStats", "MetronSearch", "MetronSweep", "MetronTestSupport", "MetronSimModel",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "MetronStatsTests", dependencies: ["MetronStats"]),
        .testTarget(name: "MetronModelTests", dependencies: ["MetronModel", "MetronStats", "MetronTestSupport"]),
        .testTarget(name: "MetronReportTests", dependencies: ["MetronReport", "MetronSearch", "MetronModel"]),
        .testTarget(name: "MetronFuzzTests", dependencies: ["MetronModel", "MetronReport", "MetronLoad", "MetronTestSupport"]),
        .testTarget(name: "MetronSimModelTests", dependencies: ["MetronSimModel", "MetronModel", "MetronTestSupport"]),
        .testTarget(name: "MetronSimTests", dependencies: ["MetronSim", "MetronSimModel", "MetronModel", "MetronTestSupport"]),
        .testTarget(name: "MetronSearchTests", dependencies: [
            "MetronSearch", "MetronSweep", "MetronReport", "MetronModel", "MetronStats", "MetronLoad", "MetronSim",
            "MetronSimModel", "MetronTestSupport", .product(name: "Yams", package: "Yams"),
        ]),
        // Runs the engine against a scripted streaming server on 127.0.0.1.
        .testTarget(name: "MetronLoadTests", dependencies: ["MetronLoad", "MetronModel", "MetronTestSupport"]),
        // Fault modes: the load generator against the in-process simulator.
        .testTarget(name: "MetronReliabilityTests", dependencies: [
            "MetronLoad", "MetronSim", "MetronModel", "MetronStats", "MetronTestSupport",
        ]),
        // Every test that runs the built `metron` binary: commands, install, runs, interruption, provenance,
        // secrets, TLS and bind address.
        .testTarget(name: "MetronEndToEndTests", dependencies: [
            "metron", "MetronModel", "MetronLoad", "MetronReport", "MetronSim", "MetronSimModel", "MetronTestSupport",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
