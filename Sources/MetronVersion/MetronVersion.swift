/// Which Metron this is: the release number and the source revision it was built from, as
/// `metron --version` prints it and every result records it.
public enum MetronVersion {
    /// Raised by hand for each release.
    public static let release = "0.1.0"

    /// `git describe --always --dirty --tags` at build time, or "unknown revision" (built from a tarball).
    public static var revision: String { sourceRevision }

    /// "0.1.0 (ae2fb5c)": the one string printed and recorded.
    public static var description: String { "\(release) (\(revision))" }
}
