import ArgumentParser

@main
struct Metron: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metron",
        abstract: "Capacity search for LLM inference servers under a fluidity-index SLO.",
        subcommands: [
            FluidityCommand.self,
            ServeSimCommand.self,
            ValidateCommand.self,
        ])
}
