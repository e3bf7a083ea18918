//! Seat server benchmarks: what one decision costs in the records (SQLite, `synchronous=FULL`,
//! in a temporary directory). A renewal alone in its transaction pays one durable commit; a
//! batch of them (what the writer thread makes of the renewals waiting) shares one. The
//! whole-process figure (HTTP, signatures, the loopback) is `scripts/seatd-load.sh`'s.

use canon::Timestamp;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use seatd::store::{self, admits, Batch, Conn, Node, Reservation, Tail};
use std::hint::black_box;

fn node(i: usize) -> Node {
    Node {
        fingerprint: runtime::fingerprint::derive(format!("node-{i}").as_bytes(), "gateway"),
        key: format!("key-{i}"),
        name: format!("node-{i}"),
        group: if i.is_multiple_of(4) {
            "gpu".into()
        } else {
            String::new()
        },
    }
}

/// Records with `n` seats held, and the batch they are decided under.
fn pool(n: usize) -> (tempfile::TempDir, Conn, Batch) {
    let d = tempfile::tempdir().unwrap();
    let conn = Conn::open(d.path().join("seats.db").to_str().unwrap()).unwrap();
    let b = Batch {
        pool: "lin-bench".into(),
        server: "act-bench".into(),
        seats: 10_000,
        now: Timestamp(1_800_000_000),
    };
    sqldb::write(conn.sql(), store::PG_SEATD_LOCK, |tx| {
        let mut tail = Tail::read(tx)?;
        for i in 0..n {
            store::claim(tx, &b, &mut tail, &node(i), (900, false))?;
        }
        Ok(())
    })
    .unwrap();
    (d, conn, b)
}

fn renewals(c: &mut Criterion) {
    let (_d, conn, b) = pool(256);
    let mut g = c.benchmark_group("seatd");
    g.throughput(Throughput::Elements(1));
    g.bench_function("renewal_alone_in_its_transaction", |bench| {
        let mut i = 0;
        bench.iter(|| {
            sqldb::write(conn.sql(), store::PG_SEATD_LOCK, |tx| {
                let mut tail = Tail::read(tx)?;
                store::claim(tx, &b, &mut tail, &node(i % 256), (900, false))
            })
            .unwrap();
            i += 1;
        })
    });
    g.throughput(Throughput::Elements(64));
    g.bench_function("renewals_64_in_one_transaction", |bench| {
        bench.iter(|| {
            sqldb::write(conn.sql(), store::PG_SEATD_LOCK, |tx| {
                let mut tail = Tail::read(tx)?;
                store::expire(tx, &b, &mut tail)?;
                for i in 0..64 {
                    black_box(store::claim(tx, &b, &mut tail, &node(i), (900, false))?);
                }
                Ok(())
            })
            .unwrap();
        })
    });
    g.finish();
}

fn admission(c: &mut Criterion) {
    let live: Vec<Node> = (0..1000).map(node).collect();
    let reserved = vec![
        Reservation {
            name: "gpu".into(),
            seats: 300,
            nodes: vec![],
            groups: vec!["gpu".into()],
        },
        Reservation {
            name: "ops".into(),
            seats: 10,
            nodes: vec!["node-7".into(), "node-9".into()],
            groups: vec![],
        },
    ];
    let me = node(5000);
    c.bench_function("seatd/admits_1000_live_2_reservations", |bench| {
        bench.iter_batched(
            || (),
            |_| black_box(admits(&live, &reserved, &me, 2000)),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, renewals, admission);
criterion_main!(benches);
