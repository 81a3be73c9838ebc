//! Validate + transform + encode of one order event: the stream worker's CPU per event.
//! `cargo bench --bench transform` prints events/s (target: 1,000,000 on one core).

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use instashop::streaming::publisher::{EventGenerator, GeneratorConfig};
use instashop::streaming::sink::{Delivery, SaleRow, encode_sale, sale_json};
use instashop::streaming::transform::validate;

fn payloads(n: usize) -> Vec<Vec<u8>> {
    let mut g = EventGenerator::new(GeneratorConfig {
        seed: 1,
        events_seed: None,
        invalid_ratio: 0.0,
        duplicate_ratio: 0.0,
        payment_failure_ratio: 0.06,
        customers: 1000,
        products: 200,
    });
    let now = Utc::now();
    (0..n).map(|_| g.next_event(now).payload).collect()
}

fn bench(c: &mut Criterion) {
    let events = payloads(10_000);
    let now = Utc::now();
    let delivery = Delivery {
        message_id: "1234567890".into(),
        publish_ts: Some(now),
    };
    let mut group = c.benchmark_group("per_event");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("validate", |b| {
        b.iter(|| {
            for p in &events {
                std::hint::black_box(validate(p, now).unwrap());
            }
        })
    });
    group.bench_function("validate+encode_proto", |b| {
        let mut buf = Vec::with_capacity(256);
        b.iter(|| {
            for p in &events {
                let row = SaleRow {
                    sale: validate(p, now).unwrap().sale,
                    delivery: delivery.clone(),
                };
                encode_sale(&row, now, &mut buf);
                std::hint::black_box(&buf);
            }
        })
    });
    group.bench_function("validate+encode_json", |b| {
        b.iter(|| {
            for p in &events {
                let row = SaleRow {
                    sale: validate(p, now).unwrap().sale,
                    delivery: delivery.clone(),
                };
                std::hint::black_box(sale_json(&row, now));
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
