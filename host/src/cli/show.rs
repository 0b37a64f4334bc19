//! Human renderings of API answers: tables for lists, aligned fields for one
//! object. Sizes in binary units, times in milliseconds.

use bytesize::ByteSize;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use serde_json::Value;

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY).set_header(header.to_vec());
    t
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn bytes(v: &Value) -> String {
    v.as_u64().map(|b| ByteSize::b(b).display().iec().to_string()).unwrap_or_else(|| "-".into())
}

pub fn plugins(body: &Value) -> String {
    let mut t = table(&["plugin", "version", "kind", "state", "source", "calls", "errors", "idle", "busy", "limit"]);
    for p in body["plugins"].as_array().into_iter().flatten() {
        t.add_row(vec![
            text(&p["name"]),
            text(&p["version"]),
            text(&p["kind"]),
            text(&p["state"]),
            text(&p["source"]),
            text(&p["calls"]),
            text(&p["errors"]),
            text(&p["idle_instances"]),
            text(&p["busy_instances"]),
            bytes(&p["memory_limit"]),
        ]);
    }
    let mut out = t.to_string();
    for r in body["rejected"].as_array().into_iter().flatten() {
        out.push_str(&format!("\nrejected {}: {}", text(&r["path"]), text(&r["error"])));
    }
    out
}

/// One object as `key: value` lines, nested objects flattened with dots.
pub fn fields(body: &Value) -> String {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            other => out.push((prefix.to_string(), text(other))),
        }
    }
    let mut rows = Vec::new();
    walk("", body, &mut rows);
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:width$}  {v}")).collect::<Vec<_>>().join("\n")
}

pub fn memory(body: &Value) -> String {
    let q = &body["compile"]["queue"];
    let mut out = format!(
        "used {} of {} ({}), compiled code {}, process RSS {}\ncompiles: {} of {} running, {} queued, {} reserved; workers' RSS {}; unexplained {}\n",
        bytes(&body["used"]),
        bytes(&body["budget"]),
        text(&body["level"]),
        bytes(&body["compiled_bytes"]),
        bytes(&body["process_rss"]),
        text(&q["running"]),
        text(&q["limit"]),
        text(&q["waiting"]),
        bytes(&body["compile_reserved_bytes"]),
        bytes(&body["worker_rss"]),
        bytes(&body["unexplained_bytes"]),
    );
    let mut t = table(&["plugin", "priority", "instances", "instance memory", "compiled", "limit per instance"]);
    for p in body["plugins"].as_array().into_iter().flatten() {
        t.add_row(vec![
            text(&p["name"]),
            text(&p["priority"]),
            p["instances"].as_array().map_or(0, Vec::len).to_string(),
            bytes(&p["instance_bytes"]),
            bytes(&p["compiled_bytes"]),
            bytes(&p["limit_per_instance"]),
        ]);
    }
    out.push_str(&t.to_string());
    out
}

pub fn pools(body: &Value) -> String {
    let mut t = table(&["plugin", "idle", "busy", "waiting", "created", "reused", "recycled", "discarded", "evicted", "wait p99 µs", "reuse", "breaker"]);
    for p in body["pools"].as_array().into_iter().flatten() {
        t.add_row(vec![
            text(&p["plugin"]),
            text(&p["idle"]),
            text(&p["busy"]),
            text(&p["waiting"]),
            text(&p["created"]),
            text(&p["reused"]),
            text(&p["recycled"]),
            text(&p["discarded"]),
            text(&p["evicted"]),
            text(&p["wait_p99_us"]),
            format!("{:.0}%", p["reuse_ratio"].as_f64().unwrap_or(0.0) * 100.0),
            text(&p["breaker"]["state"]),
        ]);
    }
    let mut out = t.to_string();
    // Outbound HTTP, for plugins that made requests.
    let used: Vec<&Value> = body["pools"].as_array().into_iter().flatten().filter(|p| p["outbound"]["requests"].as_object().is_some_and(|r| !r.is_empty())).collect();
    if !used.is_empty() {
        let mut t = table(&["plugin", "open", "idle", "opened", "new", "reused", "handshake p50 µs", "requests"]);
        for p in used {
            let o = &p["outbound"];
            let requests = o["requests"].as_object().into_iter().flatten().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ");
            t.add_row(vec![text(&p["plugin"]), text(&o["open"]), text(&o["idle"]), text(&o["opened"]), text(&o["new"]), text(&o["reused"]), text(&o["handshake_p50_us"]), requests]);
        }
        out.push_str("\noutbound HTTP\n");
        out.push_str(&t.to_string());
    }
    out
}

pub fn invocations(body: &Value) -> String {
    let mut t = table(&["id", "plugin", "export", "outcome", "ms", "warm"]);
    for c in body["invocations"].as_array().into_iter().flatten() {
        t.add_row(vec![
            text(&c["id"]),
            text(&c["plugin"]),
            text(&c["export"]),
            text(&c["outcome"]),
            format!("{:.2}", c["duration_us"].as_u64().unwrap_or(0) as f64 / 1000.0),
            text(&c["reused"]),
        ]);
    }
    format!(
        "{t}\npage {} ({} per page) of {} calls{}",
        text(&body["page"]),
        text(&body["page_size"]),
        text(&body["total"]),
        if body["has_next"] == true { "; more with --page" } else { "" }
    )
}

pub fn jobs(body: &Value) -> String {
    let mut t = table(&["id", "state", "stages", "ms", "error"]);
    for j in body["jobs"].as_array().into_iter().flatten() {
        let stages: Vec<String> = j["stages"].as_array().into_iter().flatten().map(|s| format!("{} {}", text(&s["plugin"]), text(&s["export"]))).collect();
        let ms = match (j["created_ms"].as_u64(), j["finished_ms"].as_u64()) {
            (Some(a), Some(b)) => (b - a).to_string(),
            _ => "-".into(),
        };
        t.add_row(vec![text(&j["id"]), text(&j["state"]), stages.join(" → "), ms, text(&j["error"])]);
    }
    t.to_string()
}

pub fn job(body: &Value) -> String {
    let mut t = table(&["stage", "plugin", "export", "state", "ms", "memory", "error"]);
    for (i, s) in body["stages"].as_array().into_iter().flatten().enumerate() {
        t.add_row(vec![(i + 1).to_string(), text(&s["plugin"]), text(&s["export"]), text(&s["state"]), text(&s["duration_ms"]), bytes(&s["memory_bytes"]), text(&s["error"])]);
    }
    format!("job {} {}\n{t}\nresult: {}", text(&body["id"]), text(&body["state"]), text(&body["result"]))
}
