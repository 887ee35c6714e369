// The executable only hands over to the library, where the code can be
// tested. `@main` on the root command picks ArgumentParser's async entry
// point (a plain `await ParleyBenchCommand.main()` picks the sync one).
import ParleyBench

@main
extension ParleyBenchCommand {}
