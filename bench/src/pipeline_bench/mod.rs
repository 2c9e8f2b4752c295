//! Full-pipeline convergence vs raw store inserts (being written).
