//! `market-connector`: a connector for an exchange-style market-data REST API
//! (Binance-compatible paths and shapes), reached over `wasi:http`.
//!
//! Operations (`call(operation, args-json)`):
//! - `ping` → `{"ok":true}`
//! - `ticker` `{"symbol":"BTCUSDT"}` → `{"symbol","last","change_pct","high","low","volume"}`
//! - `candles` `{"symbol":"BTCUSDT","interval":"1m","limit":10}` → `[{"open_time","open","high","low","close","volume","close_time"}]`
//!
//! Config: `base_url` (default `https://api.binance.com`). The host only lets
//! requests reach the manifest's `allowed_hosts`.

use hostel_sdk::connector::{ConnectorInfo, Guest};
use hostel_sdk::{config, http, log, Metadata, PluginError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::cell::RefCell;

struct MarketConnector;

thread_local! {
    /// Set by `connect` once the exchange answered a ping; instances keep it between calls.
    static CONNECTED_TO: RefCell<Option<String>> = const { RefCell::new(None) };
}

const INTERVALS: &[&str] = &["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"];

fn base_url() -> String {
    config::get_or("base_url", "https://api.binance.com").trim_end_matches('/').to_string()
}

fn fetch_json(path_and_query: &str) -> Result<Value, PluginError> {
    let url = format!("{}{}", base_url(), path_and_query);
    let response = http::get(&url, &[("accept", "application/json")])?;
    let body: Value = serde_json::from_slice(&response.body).map_err(|e| {
        PluginError::unavailable(format!("{url} answered {} with non-JSON body: {e}", response.status))
    })?;
    match response.status {
        200..=299 => Ok(body),
        400 | 404 => {
            let msg = body.get("msg").and_then(Value::as_str).unwrap_or("no message");
            Err(PluginError::not_found(format!("exchange answered {}: {msg}", response.status)))
        }
        s => Err(PluginError::unavailable(format!("exchange answered HTTP {s} for {url}"))),
    }
}

fn check_symbol(symbol: &str) -> Result<(), PluginError> {
    if (2..=20).contains(&symbol.len()) && symbol.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(PluginError::invalid_input(format!(
            "symbol {symbol:?} must be 2-20 upper-case letters or digits, e.g. BTCUSDT"
        )))
    }
}

/// Exchange numbers come as strings ("43000.10"); parse them into JSON numbers.
fn num(v: &Value, field: &str) -> Result<f64, PluginError> {
    let parsed = match v {
        Value::String(s) => s.parse::<f64>().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    parsed.ok_or_else(|| PluginError::unavailable(format!("exchange sent a bad number in {field}: {v}")))
}

#[derive(Deserialize)]
struct TickerArgs {
    symbol: String,
}

#[derive(Deserialize)]
struct CandleArgs {
    symbol: String,
    #[serde(default = "default_interval")]
    interval: String,
    #[serde(default = "default_limit")]
    limit: u32,
}
fn default_interval() -> String {
    "1m".into()
}
fn default_limit() -> u32 {
    10
}

fn parse_args<T: for<'de> Deserialize<'de>>(operation: &str, args: &str) -> Result<T, PluginError> {
    let args = if args.trim().is_empty() { "{}" } else { args };
    serde_json::from_str(args)
        .map_err(|e| PluginError::invalid_input(format!("arguments of {operation}: {e}")))
}

fn ticker(args: TickerArgs) -> Result<Value, PluginError> {
    check_symbol(&args.symbol)?;
    let t = fetch_json(&format!("/api/v3/ticker/24hr?symbol={}", args.symbol))?;
    Ok(json!({
        "symbol": t.get("symbol").cloned().unwrap_or(Value::String(args.symbol.clone())),
        "last": num(&t["lastPrice"], "lastPrice")?,
        "change_pct": num(&t["priceChangePercent"], "priceChangePercent")?,
        "high": num(&t["highPrice"], "highPrice")?,
        "low": num(&t["lowPrice"], "lowPrice")?,
        "volume": num(&t["volume"], "volume")?,
    }))
}

fn candles(args: CandleArgs) -> Result<Value, PluginError> {
    check_symbol(&args.symbol)?;
    if !INTERVALS.contains(&args.interval.as_str()) {
        return Err(PluginError::invalid_input(format!(
            "interval {:?} is not one of {}",
            args.interval,
            INTERVALS.join(", ")
        )));
    }
    if !(1..=1000).contains(&args.limit) {
        return Err(PluginError::invalid_input(format!("limit {} is out of range 1..=1000", args.limit)));
    }
    let rows = fetch_json(&format!(
        "/api/v3/klines?symbol={}&interval={}&limit={}",
        args.symbol, args.interval, args.limit
    ))?;
    let rows = rows
        .as_array()
        .ok_or_else(|| PluginError::unavailable("exchange sent klines that are not an array"))?;
    rows.iter()
        .map(|row| {
            let r = row
                .as_array()
                .filter(|r| r.len() >= 7)
                .ok_or_else(|| PluginError::unavailable(format!("exchange sent a bad kline row: {row}")))?;
            Ok(json!({
                "open_time": r[0].as_i64().unwrap_or_default(),
                "open": num(&r[1], "open")?,
                "high": num(&r[2], "high")?,
                "low": num(&r[3], "low")?,
                "close": num(&r[4], "close")?,
                "volume": num(&r[5], "volume")?,
                "close_time": r[6].as_i64().unwrap_or_default(),
            }))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

impl Guest for MarketConnector {
    fn describe() -> ConnectorInfo {
        ConnectorInfo {
            metadata: Metadata {
                name: "market-connector".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                description: "Ticker and candles from an exchange-style market-data REST API".into(),
            },
            system: "binance-compatible market data REST API".into(),
            operations: vec!["ping".into(), "ticker".into(), "candles".into()],
        }
    }

    fn connect() -> Result<(), PluginError> {
        let base = base_url();
        fetch_json("/api/v3/ping")?;
        log::info(&format!("connected to {base}"));
        CONNECTED_TO.with(|c| *c.borrow_mut() = Some(base));
        Ok(())
    }

    fn call(operation: String, args: String) -> Result<String, PluginError> {
        let result = match operation.as_str() {
            "ping" => fetch_json("/api/v3/ping").map(|_| json!({"ok": true})),
            "ticker" => ticker(parse_args(&operation, &args)?),
            "candles" => candles(parse_args(&operation, &args)?),
            other => Err(PluginError::not_found(format!(
                "unknown operation {other:?}; this connector offers ping, ticker, candles"
            ))),
        }?;
        Ok(result.to_string())
    }

    fn close() {
        CONNECTED_TO.with(|c| c.borrow_mut().take());
    }
}

hostel_sdk::export_connector!(MarketConnector);
