//! Every end-to-end test in one binary (one link of wasmtime instead of
//! one per file): the real `hostel` binary over loopback HTTP with the real
//! plugins. Run one area with `cargo test --release --test e2e memory::`.

mod author;
mod cache;
mod capabilities;
mod caption;
mod caption_minilm;
mod cli;
mod compile;
mod connector;
mod crash;
mod dashboard;
mod errors;
mod events;
mod eviction;
mod generic;
mod hardening;
mod hardening_net;
mod jobs;
mod lifecycle;
mod memory;
mod operator;
mod outbound;
mod pdf;
mod pdf_quality;
mod pool;
mod reliability;
mod soak;
mod telemetry;
mod upload;
mod watch;
mod worlds;
