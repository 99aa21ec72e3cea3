//! Flatten and Parquet-encode throughput on a synthetic 25-property data source (criterion).
//! Single-threaded, so rows/s is per core. Target: ≥ 200,000 rows/s for flatten + encode.
//!
//! The input is what a sync gets from Notion: query responses of 100 rows, serialised as the
//! fake serves them. A sync splits a response into raw rows (the list envelope, in the client),
//! then decodes each row (`serde_json`) just before appending it to the table builder, and
//! finishes a batch every `BATCH_ROWS` rows; the benches do the same, so each row is flattened
//! while its objects are still in cache. Rich text is mixed as in CRM data: every tenth title
//! mentions a user and every fourth note is formatted (bold, a link), 1.45 `rich_text_items` rows
//! a row; plain values only fill their column.
//!
//! - `json_decode`: response bytes → page objects (the client's share, reported for the whole
//!   picture; not part of the target).
//! - `flatten`: page objects → Arrow batches (table + `rich_text_items`); decoding untimed.
//! - `parquet_encode`: Arrow batches → zstd Parquet in memory, with the lake's writer settings.
//! - `flatten_and_encode`: the two together, streaming as a sync does (the target).
//! - `end_to_end`: response bytes → Parquet, everything timed.
//!
//! Run: `cargo bench --bench flatten`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use notionlake::fake::render::Renderer;
use notionlake::fake::{SynthSpec, synthetic_workspace};
use notionlake::flatten::{RunInfo, TableBuilder, rich_text_schema};
use notionlake::model::DataSourceSchema;
use notionlake::notion::{ListPage, NotionVersion, RawRow, decode_row};
use notionlake::sink::ParquetOptions;
use notionlake::state::{Registry, TableEntry};
use notionlake::sync::BATCH_ROWS;
use parquet::arrow::ArrowWriter;
use serde_json::{Value, json};

/// The allocator of the `notionlake` binary (see `src/main.rs`), so the figures are the binary's.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const ROWS: usize = 20_000;
const PAGE_SIZE: usize = 100;

/// Query response bodies as the API serves them, and the table plan.
fn fixture() -> (Vec<Vec<u8>>, TableEntry) {
    let ws = synthetic_workspace(SynthSpec {
        data_sources: 1,
        rows: ROWS,
        pages: 0,
        ..SynthSpec::default()
    });
    let r = Renderer::new(&ws, NotionVersion::V2025_09_03);
    let ds = ws.data_sources.values().next().expect("one data source");
    let schema = DataSourceSchema::from_object(&r.data_source(ds)).expect("schema");
    let pages: Vec<Value> = ds
        .rows
        .iter()
        .filter_map(|id| ws.page(id))
        .map(|p| r.page(p, None))
        .collect();
    let bodies = pages
        .chunks(PAGE_SIZE)
        .map(|chunk| {
            serde_json::to_vec(&json!({
                "object": "list", "results": chunk, "next_cursor": null, "has_more": false,
                "type": "page_or_data_source", "page_or_data_source": {},
            }))
            .expect("serialise")
        })
        .collect();
    let mut registry = Registry::default();
    let entry = registry.plan(&schema, "bench").0.clone();
    (bodies, entry)
}

/// What the client does with a response body: the list envelope, its rows left raw.
fn decode(body: &[u8]) -> ListPage<RawRow> {
    ListPage::from_slice("bench", body).expect("list")
}

/// What the sync does with a raw row before flattening it.
fn decode_one(raw: &RawRow) -> Value {
    decode_row("bench", raw).expect("row")
}

fn writer(schema: SchemaRef) -> ArrowWriter<Vec<u8>> {
    let props = ParquetOptions::default().writer_properties(&schema);
    ArrowWriter::try_new(Vec::with_capacity(8 << 20), schema, Some(props)).expect("writer")
}

/// Streams every response through decoding (timed when `time_decode`), flatten and, when
/// `encode`, Parquet. Returns the time spent outside untimed decoding, and the output size.
fn pipeline(
    bodies: &[Vec<u8>],
    entry: &TableEntry,
    time_decode: bool,
    encode: bool,
) -> (Duration, usize) {
    let run = RunInfo {
        run_id: "bench".into(),
        synced_at: 0,
    };
    let mut spent = Duration::ZERO;
    let mut b = TableBuilder::new(&entry.layout(), &run);
    let mut out = encode.then(|| (writer(b.schema()), writer(rich_text_schema())));
    let mut flush = |b: &mut TableBuilder| {
        let (t, r) = b.finish().expect("batch");
        match out.as_mut() {
            Some((wt, wr)) => {
                wt.write(&t).expect("write");
                wr.write(&r).expect("write");
            }
            None => {
                black_box((t, r));
            }
        }
    };
    for body in bodies {
        // Decoding (and later dropping) the rows is the client's share.
        let t0 = Instant::now();
        let page = decode(body);
        if time_decode {
            spent += t0.elapsed();
        }
        for raw in &page.results {
            let t0 = Instant::now();
            let row = decode_one(raw);
            let t1 = Instant::now();
            b.append_page(&row);
            if b.len() >= BATCH_ROWS {
                flush(&mut b);
            }
            let t2 = Instant::now();
            drop(row);
            spent += t2 - t1;
            if time_decode {
                spent += (t1 - t0) + t2.elapsed();
            }
        }
        let t0 = Instant::now();
        drop(page);
        if time_decode {
            spent += t0.elapsed();
        }
    }
    let start = Instant::now();
    flush(&mut b);
    let size = out.map_or(0, |(wt, wr)| {
        wt.into_inner().expect("close").len() + wr.into_inner().expect("close").len()
    });
    (spent + start.elapsed(), size)
}

/// The batches of the whole table, for the encode-only bench.
fn batches(bodies: &[Vec<u8>], entry: &TableEntry) -> (Vec<RecordBatch>, Vec<RecordBatch>) {
    let run = RunInfo {
        run_id: "bench".into(),
        synced_at: 0,
    };
    let mut b = TableBuilder::new(&entry.layout(), &run);
    let pages: Vec<Value> = bodies
        .iter()
        .flat_map(|x| decode(x).results)
        .map(|raw| decode_one(&raw))
        .collect();
    pages
        .chunks(BATCH_ROWS)
        .map(|chunk| {
            for p in chunk {
                b.append_page(p);
            }
            b.finish().expect("batch")
        })
        .unzip()
}

fn encode(batches: &[RecordBatch]) -> usize {
    let Some(first) = batches.first() else {
        return 0;
    };
    let mut w = writer(first.schema());
    for batch in batches {
        w.write(batch).expect("write");
    }
    w.into_inner().expect("close").len()
}

fn timed(iters: u64, f: impl Fn() -> Duration) -> Duration {
    (0..iters).map(|_| f()).sum()
}

fn benches(c: &mut Criterion) {
    let (bodies, entry) = fixture();
    let (tables, rich) = batches(&bodies, &entry);
    assert_eq!(tables[0].num_columns(), 11 + 25, "metadata + 25 properties");
    let (_, parquet) = pipeline(&bodies, &entry, true, true);
    println!(
        "fixture: {ROWS} rows in {} responses, {} columns, {:.0} bytes of JSON per row, {} rich-text items, {:.2} MB Parquet",
        bodies.len(),
        tables[0].num_columns(),
        bodies.iter().map(Vec::len).sum::<usize>() as f64 / ROWS as f64,
        rich.iter().map(RecordBatch::num_rows).sum::<usize>(),
        parquet as f64 / 1e6
    );
    let mut g = c.benchmark_group("flatten");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    g.bench_function("json_decode", |b| {
        b.iter(|| {
            for body in &bodies {
                for raw in decode(body).results {
                    black_box(decode_one(&raw));
                }
            }
        })
    });
    g.bench_function("flatten", |b| {
        b.iter_custom(|n| timed(n, || pipeline(&bodies, &entry, false, false).0))
    });
    g.bench_function("parquet_encode", |b| {
        b.iter(|| black_box(encode(&tables) + encode(&rich)))
    });
    g.bench_function("flatten_and_encode", |b| {
        b.iter_custom(|n| timed(n, || pipeline(&bodies, &entry, false, true).0))
    });
    g.bench_function("end_to_end", |b| {
        b.iter_custom(|n| timed(n, || pipeline(&bodies, &entry, true, true).0))
    });
    g.finish();
}

criterion_group!(flatten_benches, benches);
criterion_main!(flatten_benches);
