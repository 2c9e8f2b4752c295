//! Criterion benches for the controller runtime's queues: the client-go work queue
//! (add/get/done, uncontended and contended by two threads) and each sharding
//! strategy's dispatch cost (add → next → done through the `Dispatcher` trait).
//!
//! Run: `cargo bench -p kubesim-bench --bench queue`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kubesim_core::dispatch::{build, Affinity, DispatchConfig, Routed, Strategy};
use kubesim_core::time::{Clock, ManualClock};
use kubesim_core::workqueue::{QueueConfig, WorkQueue};

/// Keys per batch: one batch is `KEYS` adds, then `KEYS` get + done.
const KEYS: u64 = 1_000;

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::default())
}

fn queue(metrics: bool) -> WorkQueue<u64> {
    WorkQueue::with_config(
        clock(),
        QueueConfig {
            metrics,
            ..QueueConfig::default()
        },
    )
}

fn bench_queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("workqueue");
    g.throughput(Throughput::Elements(KEYS));
    for metrics in [false, true] {
        let name = if metrics {
            "add-get-done/metrics"
        } else {
            "add-get-done"
        };
        g.bench_function(name, |b| {
            let q = queue(metrics);
            b.iter(|| {
                for k in 0..KEYS {
                    q.add(k);
                }
                while let Some(k) = q.try_get() {
                    q.done(&k);
                }
            })
        });
    }
    g.bench_function("add-deduplicated", |b| {
        let q = queue(false);
        q.add(7);
        b.iter(|| {
            for _ in 0..KEYS {
                q.add(black_box(7));
            }
        })
    });
    // Two threads, each adding its own keys and draining the shared queue.
    g.bench_function("add-get-done/2-threads", |b| {
        b.iter_batched(
            || Arc::new(queue(false)),
            |q| {
                std::thread::scope(|s| {
                    for t in 0..2u64 {
                        let q = Arc::clone(&q);
                        s.spawn(move || {
                            for k in 0..KEYS / 2 {
                                q.add(t * KEYS + k);
                                if let Some(got) = q.try_get() {
                                    q.done(&got);
                                }
                            }
                            while let Some(got) = q.try_get() {
                                q.done(&got);
                            }
                        });
                    }
                });
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_dispatch(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(KEYS));
    let namespaces: Vec<String> = (0..10).map(|i| format!("ns-{i}")).collect();
    let owners: Vec<String> = (0..100).map(|i| format!("owner-{i}")).collect();
    let items: Vec<Routed<u64>> = (0..KEYS)
        .map(|k| {
            let aff = Affinity::new(
                &namespaces[(k % 10) as usize],
                Some(&owners[(k % 100) as usize]),
            );
            Routed::new(k, aff)
        })
        .collect();
    for strategy in Strategy::ALL {
        g.bench_function(strategy.name(), |b| {
            let d = build::<u64>(strategy, DispatchConfig::new(4), clock()).expect("dispatcher");
            let workers = d.worker_ids();
            b.iter(|| {
                for it in &items {
                    d.add(it.clone());
                }
                for &w in &workers {
                    while let Some(k) = d.try_next(w) {
                        d.done(w, &k);
                    }
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_queue, bench_dispatch);
criterion_main!(benches);
