import Foundation
import MetronModel

extension Provenance {
    /// A sweep's provenance, beside its capacity.csv.
    public static let fileName = "provenance.json"

    public func write(to url: URL) throws { try AtomicWrite.json(self, to: url) }

    public static func read(from url: URL) throws -> Provenance { try JSON.decode(Provenance.self, from: url) }
}
