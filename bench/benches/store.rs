//! Store benchmarks under criterion: kubesim's store and kube-runtime's reflector store
//! side by side in each group (`get`, `list-1pct`, `list-2label`, `upsert`), on the
//! workload of `kubesim bench store` ([`kubesim_bench::workload`]).
//!
//! Reads run over 100,000 pods; `upsert` loads 10,000 pods into an empty store per
//! iteration (inputs built and the store dropped outside the measurement). Sample counts
//! are small: the CLI (`kubesim bench store`) is the full comparison, with memory and
//! the two-thread workload; this is for criterion's statistics and history.
//!
//! `KUBESIM_BENCH_PODS` overrides the read workloads' pod count.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};
use kubesim_bench::store_bench::impls::{KubeRs, Kubesim, StoreImpl};
use kubesim_bench::workload::{SelectorCase, Workload, WorkloadSpec};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const READ_PODS: usize = 100_000;
const UPSERT_PODS: usize = 10_000;
const APPS_PER_100K: usize = 1_000;
const GET_KEYS: usize = 10_000;

fn spec(pods: usize) -> WorkloadSpec {
    let apps = (pods * APPS_PER_100K / 100_000).max(1);
    WorkloadSpec::new(pods, apps).expect("a valid workload size")
}

fn read_pods() -> usize {
    std::env::var("KUBESIM_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(READ_PODS)
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

/// A loaded store with its pre-built keys.
struct Loaded<I: StoreImpl> {
    store: I,
    keys: Vec<I::Key>,
}

fn load<I: StoreImpl>(w: &Workload) -> Loaded<I> {
    let mut store = I::new_empty(w).expect("an empty store");
    let mut inputs: Vec<I::Input> = (0..w.len()).map(|i| I::input(w, i)).collect();
    store.upsert_all(&mut inputs).expect("loading the workload");
    assert_eq!(store.len(), w.len());
    Loaded {
        keys: (0..w.len()).map(|i| I::key(w, i)).collect(),
        store,
    }
}

fn bench_get<I: StoreImpl>(g: &mut BenchmarkGroup<'_, WallTime>, l: &Loaded<I>, seq: &[usize]) {
    g.bench_function(I::ID.as_str(), |b| {
        b.iter(|| {
            for &i in seq {
                black_box(l.store.get(&l.keys[i]));
            }
        })
    });
}

fn bench_list<I: StoreImpl>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    l: &Loaded<I>,
    case: &SelectorCase,
) {
    assert_eq!(
        l.store.list(case).expect("list"),
        case.expected,
        "{}",
        case.text
    );
    g.bench_function(I::ID.as_str(), |b| {
        b.iter(|| black_box(l.store.list(case).expect("list")))
    });
}

fn bench_upsert<I: StoreImpl>(g: &mut BenchmarkGroup<'_, WallTime>, w: &Workload) {
    let inputs: Vec<I::Input> = (0..w.len()).map(|i| I::input(w, i)).collect();
    g.bench_function(I::ID.as_str(), |b| {
        b.iter_batched(
            || (I::new_empty(w).expect("an empty store"), inputs.clone()),
            |(mut store, mut batch)| {
                store.upsert_all(&mut batch).expect("upsert");
                (store, batch) // dropped outside the measurement
            },
            BatchSize::PerIteration,
        )
    });
}

fn store_benches(c: &mut Criterion) {
    let w = Workload::new(spec(read_pods()));
    let ks = load::<Kubesim>(&w);
    let kr = load::<KubeRs>(&w);
    let mut rng = SmallRng::seed_from_u64(7);
    let seq: Vec<usize> = (0..GET_KEYS)
        .map(|_| rng.random_range(0..w.len()))
        .collect();

    let mut g = group(c, "get");
    g.throughput(Throughput::Elements(seq.len() as u64));
    bench_get(&mut g, &ks, &seq);
    bench_get(&mut g, &kr, &seq);
    g.finish();

    for (name, case) in [
        ("list-1pct", w.selector_1pct()),
        ("list-2label", w.selector_2label()),
    ] {
        let mut g = group(c, name);
        bench_list(&mut g, &ks, &case);
        bench_list(&mut g, &kr, &case);
        g.finish();
    }
    drop((ks, kr));

    let small = Workload::new(spec(UPSERT_PODS));
    let mut g = group(c, "upsert");
    g.throughput(Throughput::Elements(small.len() as u64));
    bench_upsert::<Kubesim>(&mut g, &small);
    bench_upsert::<KubeRs>(&mut g, &small);
    g.finish();
}

criterion_group!(benches, store_benches);
criterion_main!(benches);
