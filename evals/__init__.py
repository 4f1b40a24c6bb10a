"""The eval suite (question set, grader, gate) and the benchmarks."""
