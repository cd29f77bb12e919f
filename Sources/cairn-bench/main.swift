print("cairn-bench: see Docs/BENCHMARKS.md")
