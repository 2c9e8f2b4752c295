//! Stress test of the store's concurrency protocol: writer threads (create, label and
//! node updates with Conflict retries, status updates, deletes) over a shared key space,
//! concurrently with watcher threads (polling and blocking), a lister that checks every
//! result, an index checker, and a list-then-watch client. Afterwards:
//!
//! 1. for every key the events each watcher saw are in strictly increasing
//!    resourceVersion order, their number equals the writes that succeeded on that key,
//!    and replaying them gives exactly the final store state;
//! 2. every index equals a full recomputation from the objects (`check_indexes`);
//! 3. the list-then-watch client's list + watch replay to the final state (no gap).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use kubesim_core::intern::{Str, StrMap};
use kubesim_core::model::{
    Kind, Namespace, NamespacePhase, Object, ObjectMeta, Pod, PodPhase, PodSpec, PodStatus,
};
use kubesim_core::selector::{LabelSelector, Operator, Requirement};
use kubesim_core::store::{
    DeleteOptions, Deleted, FieldSelector, Store, WatchEvent, WatchEventType, Watcher,
};

const WRITERS: usize = 4;
const OPS_PER_WRITER: usize = 2_500;
const NAMESPACES: [&str; 2] = ["default", "team"];
const NAMES_PER_NS: usize = 24;
const APPS: [&str; 3] = ["web", "api", "db"];

const LIST_WATCH_ROUNDS: usize = 24;

type Key = (String, String);

/// The selector and namespace of list-then-watch round `i`.
fn list_watch_query(i: usize) -> (LabelSelector, Option<&'static str>) {
    let app = |a: &str| LabelSelector::from_labels(StrMap::from_pairs([("app", a)]));
    match i % 4 {
        0 => (app("web"), None),
        1 => (app("api"), Some("team")),
        2 => (
            LabelSelector {
                match_labels: StrMap::new(),
                match_expressions: vec![Requirement::new("app", Operator::In, ["db", "web"])],
            },
            None,
        ),
        _ => (LabelSelector::default(), Some("default")),
    }
}

fn key(rng: &mut SmallRng) -> Key {
    let ns = NAMESPACES[rng.random_range(0..NAMESPACES.len())];
    (
        ns.to_string(),
        format!("p{}", rng.random_range(0..NAMES_PER_NS)),
    )
}

fn new_pod(k: &Key, rng: &mut SmallRng) -> Object {
    let app = APPS[rng.random_range(0..APPS.len())];
    Object::Pod(Pod {
        meta: ObjectMeta {
            labels: StrMap::from_pairs([("app", app), ("gen", "0")]),
            ..ObjectMeta::named(&k.0, &k.1)
        },
        spec: Arc::new(PodSpec::default()),
        node_name: rng
            .random_bool(0.5)
            .then(|| Str::from(format!("n{}", rng.random_range(0..3)))),
        status: PodStatus::default(),
    })
}

/// Runs one writer; returns the number of successful writes per key.
fn writer(store: &Store, seed: u64) -> HashMap<Key, u64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut writes: HashMap<Key, u64> = HashMap::new();
    for i in 0..OPS_PER_WRITER {
        let k = key(&mut rng);
        let roll = rng.random_range(0..100);
        let wrote = if roll < 30 {
            match store.create(new_pod(&k, &mut rng)) {
                Ok(_) => true,
                Err(e) if e.is_already_exists() => false,
                Err(e) => panic!("create: {e}"),
            }
        } else if roll < 80 {
            // Read-modify-write with Conflict retries. The `gen` label is unique per
            // attempt, so a successful update is always a write.
            let status = roll >= 70;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let Some(cur) = store.try_get(Kind::Pod, &k.0, &k.1) else {
                    break false;
                };
                let mut x = (*cur).clone();
                let result = if status {
                    let p = x.as_pod_mut().unwrap();
                    p.status.phase = if p.status.phase == PodPhase::Running {
                        PodPhase::Pending
                    } else {
                        PodPhase::Running
                    };
                    store.update_status(x)
                } else {
                    let app = APPS[rng.random_range(0..APPS.len())];
                    x.meta_mut().labels = StrMap::from_pairs([
                        ("app", app),
                        ("gen", &format!("{seed}-{i}-{attempt}")),
                    ]);
                    if rng.random_bool(0.3) {
                        x.as_pod_mut().unwrap().node_name =
                            Some(Str::from(format!("n{}", rng.random_range(0..3))));
                    }
                    store.update(x)
                };
                match result {
                    Ok(new) => {
                        assert!(new.meta().resource_version > cur.meta().resource_version);
                        break true;
                    }
                    Err(e) if e.is_conflict() => continue,
                    Err(e) if e.is_not_found() => break false,
                    Err(e) => panic!("update: {e}"),
                }
            }
        } else {
            match store.delete(Kind::Pod, &k.0, &k.1, &DeleteOptions::grace(0)) {
                Ok(Deleted::Gone(_)) => true,
                Ok(Deleted::Pending(o)) => panic!("no finalizers here, yet pending: {o:?}"),
                Err(e) if e.is_not_found() => false,
                Err(e) => panic!("delete: {e}"),
            }
        };
        if wrote {
            *writes.entry(k).or_default() += 1;
        }
    }
    writes
}

/// Collects events until `done` is set and the log is drained.
fn collect(mut w: Watcher, done: &AtomicBool, blocking: bool) -> Vec<WatchEvent> {
    let mut events = Vec::new();
    loop {
        let finished = done.load(Ordering::SeqCst);
        let before = events.len();
        if blocking {
            if let Some(e) = w.next_timeout(Duration::from_millis(20)).unwrap() {
                events.push(e);
            }
        } else {
            w.poll_into(&mut events, 64).unwrap();
        }
        if finished && events.len() == before {
            return events;
        }
        if !blocking && events.len() == before {
            thread::yield_now();
        }
    }
}

/// Applies events to a state; checks per-key order.
fn replay(
    mut state: BTreeMap<Key, Arc<Object>>,
    events: &[WatchEvent],
) -> BTreeMap<Key, Arc<Object>> {
    let mut last_rv: HashMap<Key, u64> = HashMap::new();
    let mut prev = 0;
    for e in events {
        assert!(
            e.resource_version > prev,
            "kind order: {} after {prev}",
            e.resource_version
        );
        prev = e.resource_version;
        assert_eq!(e.resource_version, e.object.meta().resource_version);
        let k = (
            e.object.namespace().to_string(),
            e.object.name().to_string(),
        );
        let last = last_rv.entry(k.clone()).or_default();
        assert!(
            e.resource_version > *last,
            "{k:?}: rv {} after {}",
            e.resource_version,
            *last
        );
        *last = e.resource_version;
        match e.type_ {
            WatchEventType::Added | WatchEventType::Modified => {
                state.insert(k, e.object.clone());
            }
            WatchEventType::Deleted => {
                state.remove(&k);
            }
        }
    }
    state
}

fn rvs(state: &BTreeMap<Key, Arc<Object>>) -> BTreeMap<Key, u64> {
    state
        .iter()
        .map(|(k, o)| (k.clone(), o.meta().resource_version))
        .collect()
}

#[test]
fn concurrent_writers_watchers_and_listers() {
    let store = Store::new();
    store
        .create(Object::from(Namespace {
            meta: ObjectMeta::named("", "team"),
            phase: NamespacePhase::Active,
        }))
        .unwrap();
    let start = store.resource_version();
    let done = Arc::new(AtomicBool::new(false));
    let writers_done = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(WRITERS + 5));

    thread::scope(|s| {
        let watchers: Vec<_> = [false, true]
            .into_iter()
            .map(|blocking| {
                let w = store.watch(Kind::Pod, start).unwrap();
                let (done, barrier) = (&done, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    collect(w, done, blocking)
                })
            })
            .collect();

        // Lists during the writes: every result matches and is sorted and unique.
        let lister = {
            let (store, writers_done, barrier) = (&store, &writers_done, &barrier);
            s.spawn(move || {
                barrier.wait();
                let mut rounds = 0u64;
                while !writers_done.load(Ordering::SeqCst) || rounds < 10 {
                    let app = APPS[(rounds % 3) as usize];
                    let sel = LabelSelector::from_labels(StrMap::from_pairs([("app", app)]));
                    let f: FieldSelector = "spec.nodeName=n1".parse().unwrap();
                    for (ns, fs) in [(None, None), (Some("team"), None), (None, Some(&f))] {
                        let got = store.list(Kind::Pod, ns, Some(&sel), fs).unwrap();
                        for o in &got {
                            assert_eq!(o.labels().get("app").map(|v| v.as_str()), Some(app));
                            assert!(ns.is_none_or(|ns| o.namespace().as_str() == ns));
                            assert!(fs.is_none_or(|f| f.matches(o)));
                        }
                        for pair in got.windows(2) {
                            let key =
                                |o: &Object| (o.namespace().to_string(), o.name().to_string());
                            assert!(key(&pair[0]) < key(&pair[1]), "unsorted or duplicate");
                        }
                    }
                    rounds += 1;
                }
            })
        };

        // The index check is exact even under concurrent writers.
        let checker = {
            let (store, writers_done, barrier) = (&store, &writers_done, &barrier);
            s.spawn(move || {
                barrier.wait();
                let mut n = 0;
                while !writers_done.load(Ordering::SeqCst) || n < 2 {
                    store.check_indexes().unwrap();
                    n += 1;
                }
            })
        };

        // List then watch, many times during the run, by selectors that use the
        // indexes (label postings, namespace postings) and by a full scan.
        let list_watch = {
            let (store, done, barrier) = (&store, &done, &barrier);
            s.spawn(move || {
                barrier.wait();
                let mut rounds = Vec::new();
                // Rounds are spread over the run; any left when the writers are done
                // run at once (still valid, just without concurrent writes).
                while rounds.len() < LIST_WATCH_ROUNDS {
                    if store.resource_version() < start + 150 * (rounds.len() as u64 + 1)
                        && !done.load(Ordering::SeqCst)
                    {
                        thread::yield_now();
                        continue;
                    }
                    let (sel, ns) = list_watch_query(rounds.len());
                    let rv = store.resource_version();
                    let listed: BTreeMap<Key, Arc<Object>> = store
                        .list(Kind::Pod, ns, Some(&sel), None)
                        .unwrap()
                        .into_iter()
                        .map(|o| ((o.namespace().to_string(), o.name().to_string()), o))
                        .collect();
                    let end = store.resource_version();
                    let w = store.watch(Kind::Pod, rv).unwrap();
                    rounds.push((rounds.len(), (rv, end), listed, w));
                }
                rounds
                    .into_iter()
                    .map(|(i, rvs, listed, w)| (i, rvs, listed, collect(w, done, false)))
                    .collect::<Vec<_>>()
            })
        };

        let writer_handles: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (store, barrier) = (&store, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    writer(store, 1000 + i as u64)
                })
            })
            .collect();
        let mut writes: HashMap<Key, u64> = HashMap::new();
        for h in writer_handles {
            for (k, n) in h.join().unwrap() {
                *writes.entry(k).or_default() += n;
            }
        }
        writers_done.store(true, Ordering::SeqCst);
        done.store(true, Ordering::SeqCst);
        lister.join().unwrap();
        checker.join().unwrap();

        let final_state: BTreeMap<Key, Arc<Object>> = store
            .list(Kind::Pod, None, None, None)
            .unwrap()
            .into_iter()
            .map(|o| ((o.namespace().to_string(), o.name().to_string()), o))
            .collect();
        assert_eq!(final_state.len(), store.count(Kind::Pod));
        let total: u64 = writes.values().sum();
        assert_eq!(
            store.resource_version() - start,
            total,
            "every write drew one rv"
        );

        let mut history = Vec::new();
        for h in watchers {
            let events = h.join().unwrap();
            if history.is_empty() {
                history = events.clone();
            }
            assert_eq!(events.len() as u64, total, "no event lost, none duplicated");
            let mut per_key: HashMap<Key, u64> = HashMap::new();
            for e in &events {
                *per_key
                    .entry((
                        e.object.namespace().to_string(),
                        e.object.name().to_string(),
                    ))
                    .or_default() += 1;
            }
            assert_eq!(per_key, writes);
            let replayed = replay(BTreeMap::new(), &events);
            assert_eq!(rvs(&replayed), rvs(&final_state));
            for (k, o) in &replayed {
                assert!(
                    Arc::ptr_eq(o, &final_state[k]),
                    "{k:?}: replay holds another version"
                );
            }
        }

        let rounds = list_watch.join().unwrap();
        eprintln!(
            "{total} writes; {} list-then-watch rounds from rvs {:?}",
            rounds.len(),
            rounds.iter().map(|r| r.1 .0).collect::<Vec<_>>()
        );
        assert_eq!(rounds.len(), LIST_WATCH_ROUNDS);
        for (i, (rv, end), listed, events) in rounds {
            let (sel, ns) = list_watch_query(i);
            let keep = |o: &Object| {
                sel.matches(o.labels()) && ns.is_none_or(|ns| o.namespace().as_str() == ns)
            };
            // The list saw every write up to `rv`: each object matching at `rv` is
            // listed (in that version or a later one), unless it was written while the
            // list ran.
            let at_rv = replay(
                BTreeMap::new(),
                &history[..history.partition_point(|e| e.resource_version <= rv)],
            );
            for (k, o) in at_rv.iter().filter(|(_, o)| keep(o)) {
                match listed.get(k) {
                    Some(l) => assert!(
                        l.meta().resource_version >= o.meta().resource_version,
                        "#{i}: {k:?} listed stale"
                    ),
                    None => assert!(
                        history.iter().any(|e| {
                            (rv + 1..=end).contains(&e.resource_version)
                                && e.object.namespace().as_str() == k.0
                                && e.object.name().as_str() == k.1
                        }),
                        "#{i}: {k:?} (rv {}) matched at rv {rv} but the list missed it",
                        o.meta().resource_version
                    ),
                }
            }
            for l in listed.values() {
                assert!(keep(l) && l.meta().resource_version <= end);
            }
            let replayed: BTreeMap<Key, Arc<Object>> = replay(listed, &events)
                .into_iter()
                .filter(|(_, o)| keep(o))
                .collect();
            let want: BTreeMap<Key, Arc<Object>> = final_state
                .iter()
                .filter(|(_, o)| keep(o))
                .map(|(k, o)| (k.clone(), o.clone()))
                .collect();
            assert_eq!(
                rvs(&replayed),
                rvs(&want),
                "list then watch #{i} ({sel}, {ns:?}) left a gap"
            );
        }
    });

    store.check_indexes().unwrap();
    let all = LabelSelector::default();
    for app in APPS {
        let sel = LabelSelector::from_labels(StrMap::from_pairs([("app", app)]));
        let by_index = store.list(Kind::Pod, None, Some(&sel), None).unwrap();
        let by_scan: Vec<_> = store
            .list(Kind::Pod, None, Some(&all), None)
            .unwrap()
            .into_iter()
            .filter(|o| sel.matches(o.labels()))
            .collect();
        assert_eq!(by_index.len(), by_scan.len());
        assert!(by_index
            .iter()
            .zip(&by_scan)
            .all(|(a, b)| Arc::ptr_eq(a, b)));
    }
}
