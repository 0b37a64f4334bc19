//! Generic calls: any exported function of any plugin, by name, with JSON
//! arguments mapped to the function's own WIT types (see [`super::json`]) and
//! the result mapped back. A `result<T, plugin-error>` is unwrapped: `ok`
//! becomes the answer, `err` the same typed error a typed call gives.

use super::json::{from_val, to_val, type_name};
use crate::bindings::{ErrorCode, PluginError};
use crate::error::{Error, Result};
use crate::host::Host;
use serde::Serialize;
use serde_json::Value;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Type, Val};
use wasmtime::Engine;

/// One exported function, as `GET /v1/plugins/{name}/exports` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ExportInfo {
    /// `interface#function`, or `function` for a top-level export.
    pub name: String,
    pub params: Vec<ParamInfo>,
    /// The result type, if the function returns one.
    pub result: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParamInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

/// An exported function found by name.
struct Target {
    name: String,
    /// Where it is, looked up again in each instance (a reload makes a new
    /// component, whose indices differ).
    interface: Option<String>,
    function: String,
    func: ComponentFunc,
}

/// Exports a toolchain adds that are no function of any plugin world:
/// (instance, function, what it is). Hidden from listings; a call by name is
/// refused saying so.
const LEFTOVERS: &[(&str, &str, &str)] =
    &[("exports", "init", "componentize-py's pre-initialisation hook (it traps when called after the build)")];

fn leftover(interface: Option<&str>, func: &str) -> Option<&'static str> {
    LEFTOVERS.iter().find(|(i, f, _)| interface == Some(*i) && func == *f).map(|(_, _, why)| *why)
}

/// Every exported function of the plugin: (interface, function, type).
fn functions(engine: &Engine, component: &Component) -> Vec<(Option<String>, String, ComponentFunc)> {
    let mut all = every_function(engine, component);
    all.retain(|(i, f, _)| leftover(i.as_deref(), f).is_none());
    all
}

fn every_function(engine: &Engine, component: &Component) -> Vec<(Option<String>, String, ComponentFunc)> {
    let mut out = Vec::new();
    for (name, item) in component.component_type().exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(f) => out.push((None, name.to_string(), f)),
            ComponentItem::ComponentInstance(instance) => {
                for (func, item) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(f) = item.ty {
                        out.push((Some(name.to_string()), func.to_string(), f));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn full_name(interface: &Option<String>, func: &str) -> String {
    interface.as_ref().map_or(func.to_string(), |i| format!("{i}#{func}"))
}

/// `pdf` matches `hostel:plugin/pdf@0.1.0`.
fn interface_matches(full: &str, wanted: &str) -> bool {
    full == wanted || full.split_once('/').map(|(_, rest)| rest.split('@').next() == Some(wanted)).unwrap_or(false)
}

/// Finds `export` (`function`, `interface#function` or `short-interface#function`).
fn resolve(engine: &Engine, component: &Component, plugin: &str, export: &str) -> Result<Target> {
    let (interface, func) = match export.split_once('#') {
        Some((i, f)) => (Some(i), f),
        None => (None, export),
    };
    if let Some(why) = leftover(interface, func) {
        return Err(Error::InvalidRequest(format!("{export} is {why}, not a function of the plugin's world")));
    }
    let all = functions(engine, component);
    let found: Vec<_> = all
        .iter()
        .filter(|(i, f, _)| f == func && match (interface, i) {
            (None, _) => true,
            (Some(wanted), Some(i)) => interface_matches(i, wanted),
            (Some(_), None) => false,
        })
        .collect();
    let (iface, fname, ty) = match found.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return Err(Error::UnknownExport {
                plugin: plugin.to_string(),
                export: export.to_string(),
                available: all.iter().map(|(i, f, _)| full_name(i, f)).collect(),
            })
        }
        many => {
            let names: Vec<String> = many.iter().map(|(i, f, _)| full_name(i, f)).collect();
            return Err(Error::InvalidRequest(format!("export {export:?} is ambiguous: {}", names.join(", "))));
        }
    };
    Ok(Target { name: full_name(&iface, &fname), interface: iface, function: fname, func: ty })
}

/// Arguments as an object keyed by parameter name, or an array in order.
fn arguments(target: &Target, args: &Value) -> Result<Vec<Val>> {
    let params: Vec<(&str, Type)> = target.func.params().collect();
    let bad = |m: String| Error::InvalidRequest(format!("arguments of {}: {m}", target.name));
    let mut left = super::json::MAX_ELEMENTS;
    match args {
        Value::Object(map) => {
            for key in map.keys() {
                if !params.iter().any(|(n, _)| *n == key.replace('_', "-")) {
                    let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
                    return Err(bad(format!("unknown parameter {key:?} (parameters: {})", names.join(", "))));
                }
            }
            params
                .iter()
                .map(|(name, ty)| {
                    let given = map.get(*name).or_else(|| map.get(&name.replace('-', "_")));
                    match (given, ty) {
                        (Some(v), ty) => to_val(ty, v, name, &mut left).map_err(bad),
                        (None, Type::Option(_)) => Ok(Val::Option(None)),
                        (None, _) => Err(bad(format!("missing parameter {name:?}"))),
                    }
                })
                .collect()
        }
        Value::Array(items) if items.len() == params.len() => {
            items.iter().zip(&params).map(|(v, (name, ty))| to_val(ty, v, name, &mut left).map_err(bad)).collect()
        }
        Value::Null if params.is_empty() => Ok(Vec::new()),
        other => Err(bad(format!("expected an object of {} parameters, got {other}", params.len()))),
    }
}

/// The answer as JSON; a `plugin-error` in a result's `err` becomes an error.
fn output(types: &[Type], results: &[Val]) -> std::result::Result<Value, PluginError> {
    match (types, results) {
        ([], _) => Ok(Value::Null),
        ([Type::Result(r)], [Val::Result(outcome)]) if r.err().as_ref().is_some_and(is_plugin_error) => match outcome {
            Ok(v) => Ok(match (r.ok(), v) {
                (Some(t), Some(v)) => from_val(&t, v),
                _ => Value::Null,
            }),
            Err(e) => Err(plugin_error(e.as_deref())),
        },
        ([ty], [v]) => Ok(from_val(ty, v)),
        _ => Ok(Value::Array(types.iter().zip(results).map(|(t, v)| from_val(t, v)).collect())),
    }
}

/// Whether a value of `ty` may hold a resource handle.
fn holds_resource(ty: &Type) -> bool {
    match ty {
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) => true,
        Type::List(l) => holds_resource(&l.ty()),
        Type::Record(r) => r.fields().any(|f| holds_resource(&f.ty)),
        Type::Tuple(t) => t.types().any(|t| holds_resource(&t)),
        Type::Variant(v) => v.cases().any(|c| c.ty.as_ref().is_some_and(holds_resource)),
        Type::Option(o) => holds_resource(&o.ty()),
        Type::Result(r) => r.ok().as_ref().is_some_and(holds_resource) || r.err().as_ref().is_some_and(holds_resource),
        _ => false,
    }
}

fn is_plugin_error(ty: &Type) -> bool {
    let Type::Record(r) = ty else { return false };
    let names: Vec<&str> = r.fields().map(|f| f.name).collect();
    names == ["code", "message"]
}

fn plugin_error(v: Option<&Val>) -> PluginError {
    let (mut code, mut message) = (ErrorCode::Internal, String::new());
    if let Some(Val::Record(fields)) = v {
        for (name, value) in fields {
            match (name.as_str(), value) {
                ("code", Val::Enum(c)) => {
                    code = match c.as_str() {
                        "invalid-input" => ErrorCode::InvalidInput,
                        "not-found" => ErrorCode::NotFound,
                        "unavailable" => ErrorCode::Unavailable,
                        "denied" => ErrorCode::Denied,
                        _ => ErrorCode::Internal,
                    }
                }
                ("message", Val::String(m)) => message = m.clone(),
                _ => {}
            }
        }
    }
    PluginError { code, message }
}

impl Host {
    /// Every function the plugin exports, with parameter and result types
    /// (loads the plugin if needed).
    pub async fn exports(&self, plugin: &str) -> Result<Vec<ExportInfo>> {
        let p = self.plugin(plugin)?;
        let loaded = self.ensure_loaded(&p, false).await?;
        Ok(functions(&self.inner.runtime.engine, loaded.component())
            .into_iter()
            .map(|(i, f, ty)| ExportInfo {
                name: full_name(&i, &f),
                params: ty.params().map(|(n, t)| ParamInfo { name: n.to_string(), ty: type_name(&t) }).collect(),
                result: ty.results().next().map(|t| type_name(&t)),
            })
            .collect())
    }

    /// Calls `export` of `plugin` with JSON `args` (an object by parameter
    /// name, or an array in order); returns the result as JSON.
    pub async fn invoke_json(&self, plugin: &str, export: &str, args: &Value) -> Result<Value> {
        self.invoke_json_measured(plugin, export, args).await.map(|(v, _)| v)
    }

    /// [`Host::invoke_json`], also returning the bytes the instance held after the call.
    pub(crate) async fn invoke_json_measured(&self, plugin: &str, export: &str, args: &Value) -> Result<(Value, u64)> {
        let p = self.plugin(plugin)?;
        let loaded = self.ensure_loaded(&p, false).await?;
        let target = resolve(&self.inner.runtime.engine, loaded.component(), plugin, export)?;
        let params = arguments(&target, args)?;
        let types: Vec<Type> = target.func.results().collect();
        if types.iter().any(holds_resource) {
            return Err(Error::InvalidRequest(format!(
                "{} returns a resource, which JSON cannot carry (use the plugin's typed or streaming route)",
                target.name
            )));
        }
        let mut lease = self.acquire(plugin, None, target.name.clone()).await?;
        let outcome = call(&mut lease.instance, &target, &params, types.len()).await;
        let memory = lease.instance.store.data().limiter.used();
        let value = self.finish(lease, outcome.map(|r| r.and_then(|results| output(&types, &results))))?;
        Ok((value, memory))
    }
}

impl Host {
    /// Runs a warm-up call (`pool.warm_up`) on a fresh instance outside any
    /// call's bookkeeping. A plugin-error answer still warmed it up; a trap
    /// or a timeout is an error (the instance is then dropped).
    pub(crate) async fn warm_call(&self, loaded: &crate::plugin::Loaded, instance: &mut crate::instance::Instance, plugin: &str, export: &str, args: &Value) -> Result<()> {
        let target = resolve(&self.inner.runtime.engine, loaded.component(), plugin, export)?;
        let params = arguments(&target, args)?;
        let results = target.func.results().count();
        match call(instance, &target, &params, results).await {
            Ok(_) => Ok(()),
            Err(e) => Err(Error::Trap { plugin: plugin.to_string(), message: format!("warm-up call {export}: {}", crate::loader::one_line(&e)) }),
        }
    }
}

/// One item of a batch.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    pub plugin: String,
    pub export: String,
    #[serde(default)]
    pub args: Value,
}

impl Host {
    /// Runs `items` with at most `concurrency` in flight; one outcome per
    /// item, in order. A failing item never fails the others.
    pub async fn batch(&self, items: Vec<BatchItem>, concurrency: usize) -> Vec<Result<Value>> {
        use futures::StreamExt;
        futures::stream::iter(items)
            .map(|item| async move { super::unpanicked(self.invoke_json(&item.plugin, &item.export, &item.args)).await })
            .buffered(concurrency.max(1))
            .collect()
            .await
    }
}

async fn call(instance: &mut crate::instance::Instance, target: &Target, params: &[Val], results: usize) -> wasmtime::Result<std::result::Result<Vec<Val>, PluginError>> {
    let (raw, store) = (&instance.raw, &mut instance.store);
    let parent = match &target.interface {
        Some(i) => raw.get_export_index(&mut *store, None, i),
        None => None,
    };
    let index = match (&target.interface, &parent) {
        (Some(_), None) => None,
        _ => raw.get_export_index(&mut *store, parent.as_ref(), &target.function),
    };
    // Only a new version uploaded between resolving and checking out can lack it.
    let Some(func) = index.and_then(|i| raw.get_func(&mut *store, &i)) else {
        return Ok(Err(PluginError { code: ErrorCode::NotFound, message: format!("{} is not in the version now registered", target.name) }));
    };
    let mut out = vec![Val::Bool(false); results];
    func.call_async(&mut *store, params, &mut out).await?;
    Ok(Ok(out))
}
