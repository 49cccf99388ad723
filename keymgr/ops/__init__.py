"""Operations: local clusters, drills, benchmarks."""
