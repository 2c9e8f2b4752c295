//! One cold start of the kubesim side of `kubesim bench controller` only, for
//! profiling under callgrind: `kubesim_side [replica_sets] [pods] [setup | runs] [pump spins]`
//! (with `setup`, only the store is built, to subtract its cost; a number repeats the
//! cold start in one process, as the bench does).
#![allow(missing_docs)]

use std::time::Duration;

use kubesim_bench::controller_bench::kubesim_side::{run, Which};
use kubesim_bench::shard_bench;
use kubesim_core::runtime::Strategy;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let sets: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let pods: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let replicas = vec![pods; sets];
    if args.get(3).is_some_and(|a| a == "setup") {
        let s = shard_bench::setup_store(&replicas, 1)?;
        println!("setup {}", s.count(kubesim_core::model::Kind::ReplicaSet));
        return Ok(());
    }
    let runs: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1);
    let spins: usize = args
        .get(4)
        .and_then(|a| a.parse().ok())
        .unwrap_or(kubesim_core::runtime::DEFAULT_PUMP_SPINS);
    for _ in 0..runs {
        let s = run(
            Which::Bench,
            &replicas,
            Strategy::Hash,
            2,
            spins,
            1,
            Duration::from_secs(600),
        )?;
        println!(
            "reconciles {} creates {} status {} ok {} wall {:.1} ms cpu {:.1} ms",
            s.reconciles,
            s.creates,
            s.status_writes,
            s.ok(),
            s.wall_ms.unwrap_or(f64::NAN),
            s.cpu_ms.unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
