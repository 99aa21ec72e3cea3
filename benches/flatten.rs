//! Flatten and Parquet-encode throughput on a synthetic 25-property data source (criterion).
//! Single-threaded, so rows/s is per core. Rows are flattened as a sync does it: in batches of
//! `BATCH_ROWS` from one reused builder. Target: ≥ 200,000 rows/s for flatten + encode.
//!
//! Run: `cargo bench --bench flatten`.

use std::hint::black_box;

use arrow::array::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use notionlake::fake::render::Renderer;
use notionlake::fake::{SynthSpec, synthetic_workspace};
use notionlake::flatten::{RunInfo, TableBuilder};
use notionlake::model::DataSourceSchema;
use notionlake::notion::NotionVersion;
use notionlake::sink::ParquetOptions;
use notionlake::state::{Registry, TableEntry};
use notionlake::sync::run::BATCH_ROWS;
use parquet::arrow::ArrowWriter;
use serde_json::Value;

const ROWS: usize = 20_000;

/// Page objects as the API serves them, and the table plan.
fn fixture() -> (Vec<Value>, TableEntry) {
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
    let mut registry = Registry::default();
    let entry = registry.plan(&schema, "bench").0.clone();
    (pages, entry)
}

/// (table batches, rich-text batches)
fn flatten(pages: &[Value], entry: &TableEntry) -> (Vec<RecordBatch>, Vec<RecordBatch>) {
    let run = RunInfo {
        run_id: "bench".into(),
        synced_at: 0,
    };
    let mut b = TableBuilder::new(entry, &run);
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
    let mut out = Vec::with_capacity(8 << 20);
    let mut w = ArrowWriter::try_new(
        &mut out,
        first.schema(),
        Some(ParquetOptions::default().writer_properties()),
    )
    .expect("writer");
    for batch in batches {
        w.write(batch).expect("write");
    }
    w.close().expect("close");
    out.len()
}

fn benches(c: &mut Criterion) {
    let (pages, entry) = fixture();
    let json: Vec<String> = pages.iter().map(|p| p.to_string()).collect();
    let (tables, rich) = flatten(&pages, &entry);
    assert_eq!(tables[0].num_columns(), 11 + 25, "metadata + 25 properties");
    println!(
        "fixture: {ROWS} rows, {} columns, {:.0} bytes of JSON per row, {} rich-text items, {:.1} MB Parquet",
        tables[0].num_columns(),
        json.iter().map(String::len).sum::<usize>() as f64 / ROWS as f64,
        rich.iter().map(RecordBatch::num_rows).sum::<usize>(),
        encode(&tables) as f64 / 1e6
    );
    let mut g = c.benchmark_group("flatten");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    g.bench_function("json_parse", |b| {
        b.iter(|| {
            for s in &json {
                black_box(serde_json::from_str::<Value>(s).expect("json"));
            }
        })
    });
    g.bench_function("flatten", |b| b.iter(|| black_box(flatten(&pages, &entry))));
    g.bench_function("parquet_encode", |b| {
        b.iter(|| black_box(encode(&tables) + encode(&rich)))
    });
    g.bench_function("flatten_and_encode", |b| {
        b.iter(|| {
            let (t, r) = flatten(&pages, &entry);
            black_box(encode(&t) + encode(&r))
        })
    });
    g.finish();
}

criterion_group!(flatten_benches, benches);
criterion_main!(flatten_benches);
