// swift-tools-version: 6.2
import PackageDescription

// Dependencies, declared once.
let grdb = Target.Dependency.product(name: "GRDB", package: "GRDB.swift")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let tomlKit = Target.Dependency.product(name: "TOMLKit", package: "TOMLKit")
let httpClient = Target.Dependency.product(name: "AsyncHTTPClient", package: "async-http-client")
let yams = Target.Dependency.product(name: "Yams", package: "Yams")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let hummingbirdTesting = Target.Dependency.product(name: "HummingbirdTesting", package: "hummingbird")
let postgres = Target.Dependency.product(name: "PostgresNIO", package: "postgres-nio")

/// Every Cairn target builds in Swift 6 mode with warnings as errors.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "cairn",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cairn", targets: ["cairn"]),
        .executable(name: "cairn-bench", targets: ["cairn-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
    ],
    targets: [
        // C libraries, each behind one system-library target.
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CChafa", pkgConfig: "chafa", providers: [.apt(["libchafa-dev", "libglib2.0-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // Components. CairnSupport holds what every other one shares: the error protocol, terminal
        // escaping and the bounded parallel loop.
        .target(name: "CairnSupport", swiftSettings: strict),
        .target(name: "CairnStore", dependencies: ["CairnSupport", crypto], swiftSettings: strict),
        .target(
            name: "CairnCatalog", dependencies: ["CairnSupport", "CairnStore", grdb, crypto], swiftSettings: strict,
            plugins: [.plugin(name: "EmbedSchema")]),
        // The catalog on a PostgreSQL server (postgres-nio), for teams on several machines: the same
        // protocols and conformance suite as SQLite, migrations of its own in schema/postgres/.
        .target(
            name: "CairnPostgres", dependencies: ["CairnSupport", "CairnStore", "CairnCatalog", postgres], swiftSettings: strict,
            plugins: [.plugin(name: "EmbedSchema")]),
        .target(name: "CairnImaging", dependencies: ["CairnSupport", "CPNG", "CTurboJPEG"], swiftSettings: strict),
        .target(
            name: "CairnRepository",
            dependencies: ["CairnSupport", "CairnStore", "CairnCatalog", "CairnImaging", tomlKit],
            swiftSettings: strict),
        .target(name: "CairnVersioning", dependencies: ["CairnSupport", "CairnStore", "CairnCatalog", "CairnRepository", crypto], swiftSettings: strict),
        // Models and the arithmetic under them: tensors, layers, learners, checkpoints, metrics.
        .target(
            name: "CairnModels",
            dependencies: ["CairnSupport", "CairnStore", "CairnCatalog", "CairnImaging", "CairnVersioning", "COpenBLAS", crypto],
            swiftSettings: strict),
        // Runs and sweeps: training, evaluation, prediction, program runs, their records and plots.
        .target(
            name: "CairnTraining",
            dependencies: ["CairnSupport", "CairnStore", "CairnCatalog", "CairnImaging", "CairnRepository", "CairnVersioning", "CairnModels"],
            swiftSettings: strict),
        // Data health and the model in the labeling loop: near-duplicates, suspects, queues.
        .target(
            name: "CairnQuality",
            dependencies: ["CairnSupport", "CairnStore", "CairnCatalog", "CairnImaging", "CairnVersioning", "CairnModels", "CairnTraining"],
            swiftSettings: strict),
        // Report pages: facts gathered from runs and snapshots, drawn as HTML.
        .target(
            name: "CairnReports",
            dependencies: ["CairnSupport", "CairnStore", "CairnCatalog", "CairnImaging", "CairnVersioning", "CairnModels", "CairnTraining", "CairnQuality"],
            swiftSettings: strict),
        .target(
            name: "CairnLabeling", dependencies: ["CairnSupport", "CairnCatalog", "CairnStore", "CairnImaging", "CairnRepository", "CChafa"],
            swiftSettings: strict),
        // The only target that speaks HTTP: the S3 client and push, pull, clone and repair. Nothing
        // else waits for swift-nio and its BoringSSL to build.
        .target(
            name: "CairnRemote",
            dependencies: ["CairnSupport", "CairnStore", "CairnCatalog", "CairnRepository", "CairnVersioning", crypto, httpClient],
            swiftSettings: strict),
        // The Open Inference Protocol v2's wire format (request parsing, response text): no HTTP
        // code, so the fuzz build parses requests too. `cairn serve` serves it over Hummingbird,
        // kept out of every other target (and the fuzz build) like the S3 client.
        .target(name: "CairnInference", dependencies: ["CairnSupport"], swiftSettings: strict),
        .target(
            name: "CairnServe", dependencies: ["CairnSupport", "CairnStore", "CairnImaging", "CairnModels", "CairnTraining", "CairnInference", hummingbird],
            swiftSettings: strict),
        // Application services between the libraries and the CLI: what a command does that takes
        // more than one library call (sweeps run as child processes, spec files, the labeling loop's
        // retrainer, report pages). The CLI parses, calls one of these or a library, and prints.
        .target(
            name: "CairnWorkflows",
            dependencies: ["CairnSupport", "CairnStore", "CairnCatalog", "CairnRepository", "CairnVersioning", "CairnModels", "CairnTraining", "CairnQuality", "CairnReports", "CairnLabeling", yams],
            swiftSettings: strict),
        .executableTarget(
            name: "cairn",
            dependencies: ["CairnSupport", "CairnRepository", "CairnVersioning", "CairnModels", "CairnTraining", "CairnQuality", "CairnReports",
                           "CairnLabeling", "CairnRemote", "CairnServe", "CairnPostgres",
                           "CairnWorkflows", argumentParser],
            swiftSettings: strict),
        .executableTarget(
            name: "cairn-bench",
            dependencies: ["CairnSupport", "CairnRepository", "CairnVersioning", "CairnModels", "CairnTraining", "CairnQuality", "CairnLabeling",
                           "CairnPostgres", "CairnRemote", argumentParser], exclude: ["peers"],
            swiftSettings: strict),

        // libFuzzer entry points (built only by `make fuzz`, with -sanitize=fuzzer,address): every
        // format that comes from outside. No HTTP code, so the sanitized build stays small.
        .target(
            name: "CairnFuzz",
            dependencies: ["CairnStore", "CairnCatalog", "CairnImaging", "CairnRepository", "CairnVersioning", "CairnModels", "CairnTraining", "CairnInference"],
            swiftSettings: strict),
        .executableTarget(name: "cairn-fuzz", dependencies: ["CairnFuzz"], swiftSettings: strict),

        // Embeds schema/*.sql into CairnCatalog at build time, so the binary carries its migrations.
        .executableTarget(name: "EmbedSchemaTool", path: "Sources/EmbedSchemaTool"),
        .plugin(
            name: "EmbedSchema", capability: .buildTool(), dependencies: ["EmbedSchemaTool"], path: "Sources/EmbedSchemaPlugin"),

        // Tests.
        .target(
            name: "CairnTestSupport",
            dependencies: ["CairnSupport", "CairnStore", "CairnCatalog", "CairnImaging", "CairnRepository", "CairnVersioning", "CairnModels", "CairnTraining", "CairnRemote"],
            swiftSettings: strict),
        .testTarget(name: "CairnSupportTests", dependencies: ["CairnSupport"], swiftSettings: strict),
        .testTarget(name: "CairnStoreTests", dependencies: ["CairnStore", "CairnTestSupport"], swiftSettings: strict),
        .testTarget(name: "CairnCatalogTests", dependencies: ["CairnCatalog", "CairnTestSupport", grdb], swiftSettings: strict),
        .testTarget(name: "CairnPostgresTests", dependencies: ["CairnCatalog", "CairnPostgres", "CairnTestSupport"], swiftSettings: strict),
        .testTarget(name: "CairnImagingTests", dependencies: ["CairnImaging", "CairnTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "CairnRepositoryTests", dependencies: ["CairnRepository", "CairnTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "CairnVersioningTests", dependencies: ["CairnVersioning", "CairnImaging", "CairnTestSupport", "CairnFuzz"], swiftSettings: strict),
        .testTarget(name: "CairnRemoteTests", dependencies: ["CairnRemote", "CairnTestSupport"], swiftSettings: strict),
        .testTarget(name: "CairnLabelingTests", dependencies: ["CairnLabeling", "CairnTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "CairnServeTests", dependencies: ["CairnServe", "CairnImaging", "CairnTraining", "CairnTestSupport", hummingbird, hummingbirdTesting],
            swiftSettings: strict),
        .testTarget(
            name: "CairnTrainingTests", dependencies: ["CairnModels", "CairnTraining", "CairnQuality", "CairnReports", "CairnTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "CairnEndToEndTests", dependencies: ["cairn", "CairnImaging", "CairnStore", "CairnRepository", "CairnVersioning", "CairnRemote", "CairnTestSupport"],
            swiftSettings: strict),
    ]
)
