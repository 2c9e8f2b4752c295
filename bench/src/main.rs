//! The `kubesim` command-line tool.
fn main() {}
