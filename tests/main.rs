//! Every end-to-end test in one binary (one link of wasmtime instead of
//! one per file): the real `hostel` binary over loopback HTTP with the real
//! plugins. Run one area with `cargo test --release --test e2e memory::`.

/// Every reqwest client needs a rustls provider (reqwest is built without one
/// of its own): ring is installed before any test runs, as `hostel` does in main.
#[used]
#[link_section = ".init_array"]
static INSTALL_CRYPTO_PROVIDER: extern "C" fn() = {
    extern "C" fn install() {
        hostel::install_crypto_provider();
    }
    install
};

mod author;
mod cache;
mod capabilities;
mod caption;
mod caption_minilm;
mod cli;
mod cluster;
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
