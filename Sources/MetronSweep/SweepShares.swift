import Foundation
import MetronModel

/// A sweep's searches split over the shards of `metron sweep --shard`. Each shard measures whole
/// units: a server with all its workloads (its searches share the server, so two shards must not load
/// it at once), or one workload of a simulator system (every shard starts its own simulator). Units
/// go, the costliest first, to the least loaded shard, the cost being the unit's number of searches;
/// every shard computes the same split from the sweep file alone.
public struct SweepShares: Sendable, Equatable {
    public struct Unit: Sendable, Hashable, CustomStringConvertible {
        public var system: String
        /// nil: every workload of the system.
        public var workload: String?

        public var description: String { workload.map { "\(system)/\($0)" } ?? system }
    }

    /// The shard this process runs.
    public let shard: Shard
    /// Every shard's units, in the sweep's order.
    public let units: [[Unit]]
    private let firstWorkload: String?

    public init(sweep: SweepFile, shard: Shard) {
        let count = shard.count
        self.shard = shard
        firstWorkload = sweep.workloads.first?.name
        var all: [(unit: Unit, cost: Int)] = []
        for system in sweep.systems {
            switch system.kind {
            case .server:
                all.append((Unit(system: system.name, workload: nil), sweep.workloads.count * sweep.slos.count))
            case .simulator:
                all += sweep.workloads.map { (Unit(system: system.name, workload: $0.name), sweep.slos.count) }
            }
        }
        var load = Array(repeating: 0, count: count)
        var assigned = Array(repeating: [Int](), count: count)
        // A stable sort: among equal costs the sweep's order decides, so the split is the same everywhere.
        let order = all.indices.sorted { all[$0].cost > all[$1].cost || (all[$0].cost == all[$1].cost && $0 < $1) }
        for i in order {
            let lightest = load.indices.min { load[$0] < load[$1] || (load[$0] == load[$1] && $0 < $1) }!
            load[lightest] += all[i].cost
            assigned[lightest].append(i)
        }
        units = assigned.map { $0.sorted().map { all[$0].unit } }
    }

    /// This shard's units.
    public var mine: [Unit] { units[shard.index] }

    /// Whether this shard measures `workload` of `system`.
    public func owns(system: String, workload: String) -> Bool { owner(system: system, workload: workload) == shard.index }

    /// The shard that measures `workload` of `system`.
    public func owner(system: String, workload: String) -> Int? {
        units.indices.first { i in units[i].contains { $0.system == system && ($0.workload ?? workload) == workload } }
    }

    /// The shard that profiles `system`'s prefill model: the one measuring its first workload.
    public func prefillOwner(of system: String) -> Int? {
        firstWorkload.flatMap { owner(system: system, workload: $0) }
    }
}
