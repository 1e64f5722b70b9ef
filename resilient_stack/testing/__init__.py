"""Test harnesses the tests, the benchmarks and the live drill share: the Pulumi mock runner and the podman host harness."""
