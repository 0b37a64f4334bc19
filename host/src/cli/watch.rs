//! `hostel watch`: prints a running host's live events (`GET /v1/events`)
//! one line each, or the raw JSON with `--json`, until the host goes or the
//! stream ends (a client dropped for falling behind is told why).

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use serde_json::Value;

impl super::Client {
    pub async fn watch(&self, plugin: Option<String>, types: Option<String>) -> Result<()> {
        let mut query = Vec::new();
        query.extend(plugin.map(|p| ("plugin", p)));
        query.extend(types.map(|t| ("types", t)));
        let response = self
            .request(reqwest::Method::GET, "/v1/events")
            .query(&query)
            .send()
            .await
            .with_context(|| format!("cannot reach the host at {}", self.remote.url))?;
        if !response.status().is_success() {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            bail!("{status}: {}: {}", body["error"]["code"].as_str().unwrap_or("error"), body["error"]["message"].as_str().unwrap_or(""));
        }
        let mut body = response.bytes_stream();
        let mut pending = Vec::new();
        while let Some(chunk) = body.next().await {
            pending.extend_from_slice(&chunk.context("the event stream broke")?);
            // SSE messages end with a blank line; only `data:` lines matter here.
            while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
                let message: Vec<u8> = pending.drain(..end + 2).collect();
                for line in String::from_utf8_lossy(&message).lines() {
                    if let Some(data) = line.strip_prefix("data:") {
                        self.print_event(data.trim_start());
                    }
                }
            }
        }
        Ok(())
    }

    fn print_event(&self, data: &str) {
        if self.remote.json {
            println!("{data}");
            return;
        }
        let Ok(e) = serde_json::from_str::<Value>(data) else { return };
        println!("{}", line(&e));
    }
}

/// One event as a line: time, type, then what matters for that type.
pub(crate) fn line(e: &Value) -> String {
    let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
    let n = |k: &str| e[k].as_u64().unwrap_or(0);
    let time = e["ts_ms"].as_u64().map(clock).unwrap_or_else(|| "--:--:--.---".into());
    let what = match e["type"].as_str().unwrap_or("") {
        "subscribed" => format!("watching (buffer {} events)", n("buffer")),
        "call" => format!(
            "{}/{} {} {:.1} ms {}",
            s("plugin"),
            s("export"),
            s("outcome"),
            e["ms"].as_f64().unwrap_or(0.0),
            if e["warm"].as_bool() == Some(true) { "warm" } else { "cold" }
        ),
        "instance" => {
            let reason = e["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default();
            format!("{} #{} {} {}{reason}", s("plugin"), n("instance"), s("action"), bytes(n("bytes")))
        }
        "plugin" => {
            let extra = [e["message"].as_str().map(str::to_string), e["ms"].as_u64().map(|ms| format!("{ms} ms"))];
            let extra: Vec<String> = extra.into_iter().flatten().collect();
            let extra = if extra.is_empty() { String::new() } else { format!(" ({})", extra.join(", ")) };
            format!("{} {}{extra}", s("plugin"), s("action"))
        }
        "pressure" => format!("level {} -> {} ({} of {})", s("from"), s("to"), bytes(n("used")), bytes(n("budget"))),
        "compile" => {
            let ms = e["ms"].as_u64().map(|ms| format!(" {ms} ms")).unwrap_or_default();
            let failed = if e["ok"].as_bool() == Some(false) { " FAILED" } else { "" };
            format!("{} {}{ms}{failed}", s("plugin"), s("phase"))
        }
        "memory" => format!("{} of {} ({}), rss {}", bytes(n("used")), bytes(n("budget")), s("level"), bytes(n("rss"))),
        "dropped" => format!("dropped by the host: {}", s("message")),
        other => format!("{other} {e}"),
    };
    format!("{time} {:<8} {what}", e["type"].as_str().unwrap_or("?"))
}

fn clock(ms: u64) -> String {
    let day = ms % 86_400_000;
    format!("{:02}:{:02}:{:02}.{:03} UTC", day / 3_600_000, day / 60_000 % 60, day / 1000 % 60, day % 1000)
}

fn bytes(n: u64) -> String {
    bytesize::ByteSize::b(n).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_say_what_happened() {
        let e = serde_json::json!({"type":"instance","seq":3,"ts_ms":3_723_004u64,"plugin":"pdf-text","action":"evicted","instance":7,"bytes":2097152,"reason":"pressure"});
        assert_eq!(super::line(&e), "01:02:03.004 UTC instance pdf-text #7 evicted 2.0 MiB (pressure)");
        let c = serde_json::json!({"type":"call","ts_ms":0,"plugin":"a","export":"info","outcome":"timeout","ms":12.34,"warm":false});
        assert_eq!(super::line(&c), "00:00:00.000 UTC call     a/info timeout 12.3 ms cold");
    }
}
