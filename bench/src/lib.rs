//! kubesim-bench: workloads and benchmark harnesses behind the `kubesim` CLI.
