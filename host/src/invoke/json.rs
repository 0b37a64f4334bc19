//! JSON ↔ WIT values, directed by the component's own types.
//!
//! Conventions: records are objects keyed by field name (kebab-case, or
//! snake_case); tuples and lists are arrays; `list<u8>` is base64 text (an
//! array of numbers is accepted too); enums are strings; a variant case is
//! `"case"` without a payload and `{"case": payload}` with one; options are
//! `null` or the value; results are `{"ok": v}` / `{"err": e}`; flags are
//! arrays of names. Resources, futures and streams cannot cross as JSON.

use base64::Engine as _;
use serde_json::{json, Map, Number, Value};
use wasmtime::component::{Type, Val};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// List elements one call may pass: each becomes a `Val` of ~32 bytes on the
/// host, outside any plugin's memory limit, so large byte arrays belong on a
/// plugin's typed route.
pub const MAX_ELEMENTS: usize = 4 << 20;

/// Converts `v` to a value of type `ty`; errors name the JSON path. `left`
/// is the call's remaining list-element allowance (start at [`MAX_ELEMENTS`]).
pub fn to_val(ty: &Type, v: &Value, path: &str, left: &mut usize) -> Result<Val, String> {
    convert(ty, v, path, left)
}

/// Charges `n` list elements against what is left of the call's allowance.
fn charge(left: &mut usize, n: usize, path: &str) -> Result<(), String> {
    *left = left.checked_sub(n).ok_or_else(|| {
        format!("{path}: arguments hold more than {MAX_ELEMENTS} list elements; send large data to the plugin's typed route")
    })?;
    Ok(())
}

fn convert(ty: &Type, v: &Value, path: &str, left: &mut usize) -> Result<Val, String> {
    let mismatch = |expected: &str| Err(format!("{path}: expected {expected}, got {}", kind(v)));
    macro_rules! int {
        ($variant:ident, $t:ty, $get:ident) => {
            match v.$get().and_then(|n| <$t>::try_from(n).ok()) {
                Some(n) => Ok(Val::$variant(n)),
                None => mismatch(concat!("an integer in range of ", stringify!($t))),
            }
        };
    }
    match ty {
        Type::Bool => v.as_bool().map(Val::Bool).map_or_else(|| mismatch("true or false"), Ok),
        Type::S8 => int!(S8, i8, as_i64),
        Type::U8 => int!(U8, u8, as_u64),
        Type::S16 => int!(S16, i16, as_i64),
        Type::U16 => int!(U16, u16, as_u64),
        Type::S32 => int!(S32, i32, as_i64),
        Type::U32 => int!(U32, u32, as_u64),
        Type::S64 => int!(S64, i64, as_i64),
        Type::U64 => int!(U64, u64, as_u64),
        Type::Float32 => v.as_f64().map(|f| Val::Float32(f as f32)).map_or_else(|| mismatch("a number"), Ok),
        Type::Float64 => v.as_f64().map(Val::Float64).map_or_else(|| mismatch("a number"), Ok),
        Type::Char => {
            let mut chars = v.as_str().unwrap_or_default().chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Val::Char(c)),
                _ => mismatch("a one-character string"),
            }
        }
        Type::String => v.as_str().map(|s| Val::String(s.to_string())).map_or_else(|| mismatch("a string"), Ok),
        Type::List(list) => {
            let elem = list.ty();
            if let (Type::U8, Some(text)) = (&elem, v.as_str()) {
                let bytes = B64.decode(text).map_err(|e| format!("{path}: expected base64 bytes: {e}"))?;
                charge(left, bytes.len(), path)?;
                return Ok(Val::List(bytes.into_iter().map(Val::U8).collect()));
            }
            let Some(items) = v.as_array() else { return mismatch("an array") };
            charge(left, items.len(), path)?;
            items.iter().enumerate().map(|(i, x)| convert(&elem, x, &format!("{path}[{i}]"), left)).collect::<Result<_, _>>().map(Val::List)
        }
        Type::Record(record) => {
            let Some(obj) = v.as_object() else { return mismatch("an object") };
            let fields: Vec<_> = record.fields().collect();
            for key in obj.keys() {
                if !fields.iter().any(|f| f.name == key.replace('_', "-")) {
                    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                    return Err(format!("{path}: unknown field {key:?} (fields: {})", names.join(", ")));
                }
            }
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                let given = obj.get(f.name).or_else(|| obj.get(&f.name.replace('-', "_")));
                let value = match (given, &f.ty) {
                    (Some(x), ty) => convert(ty, x, &format!("{path}.{}", f.name), left)?,
                    (None, Type::Option(_)) => Val::Option(None),
                    (None, _) => return Err(format!("{path}: missing field {:?}", f.name)),
                };
                out.push((f.name.to_string(), value));
            }
            Ok(Val::Record(out))
        }
        Type::Tuple(tuple) => {
            let types: Vec<Type> = tuple.types().collect();
            match v.as_array() {
                Some(items) if items.len() == types.len() => items
                    .iter()
                    .zip(&types)
                    .enumerate()
                    .map(|(i, (x, t))| convert(t, x, &format!("{path}[{i}]"), left))
                    .collect::<Result<_, _>>()
                    .map(Val::Tuple),
                _ => mismatch(&format!("an array of {}", types.len())),
            }
        }
        Type::Variant(variant) => {
            let (name, payload) = tagged(v).ok_or_else(|| format!("{path}: expected \"case\" or {{\"case\": value}}, got {}", kind(v)))?;
            let case = variant.cases().find(|c| c.name == name).ok_or_else(|| {
                let names: Vec<&str> = variant.cases().map(|c| c.name).collect();
                format!("{path}: unknown case {name:?} (cases: {})", names.join(", "))
            })?;
            let payload = match (case.ty, payload) {
                (Some(t), Some(p)) => Some(Box::new(convert(&t, p, &format!("{path}.{name}"), left)?)),
                (None, None) => None,
                (Some(_), None) => return Err(format!("{path}: case {name:?} needs a value")),
                (None, Some(_)) => return Err(format!("{path}: case {name:?} has no value")),
            };
            Ok(Val::Variant(name.to_string(), payload))
        }
        Type::Enum(e) => match v.as_str() {
            Some(s) if e.names().any(|n| n == s) => Ok(Val::Enum(s.to_string())),
            _ => mismatch(&format!("one of {}", e.names().collect::<Vec<_>>().join("|"))),
        },
        Type::Option(o) => match v {
            Value::Null => Ok(Val::Option(None)),
            x => Ok(Val::Option(Some(Box::new(convert(&o.ty(), x, path, left)?)))),
        },
        Type::Result(r) => {
            let (name, payload) = tagged(v).ok_or_else(|| format!("{path}: expected {{\"ok\": v}} or {{\"err\": e}}, got {}", kind(v)))?;
            let mut side = |t: Option<Type>, p: Option<&Value>| -> Result<Option<Box<Val>>, String> {
                match (t, p) {
                    (Some(t), Some(p)) => Ok(Some(Box::new(convert(&t, p, &format!("{path}.{name}"), left)?))),
                    (None, None | Some(Value::Null)) => Ok(None),
                    (Some(_), None) => Err(format!("{path}: {name} needs a value")),
                    (None, Some(_)) => Err(format!("{path}: {name} has no value")),
                }
            };
            match name {
                "ok" => Ok(Val::Result(Ok(side(r.ok(), payload)?))),
                "err" => Ok(Val::Result(Err(side(r.err(), payload)?))),
                other => Err(format!("{path}: expected ok or err, got {other:?}")),
            }
        }
        Type::Flags(flags) => {
            let Some(items) = v.as_array() else { return mismatch("an array of flag names") };
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) if flags.names().any(|n| n == s) => out.push(s.to_string()),
                    _ => return Err(format!("{path}[{i}]: expected one of {}", flags.names().collect::<Vec<_>>().join("|"))),
                }
            }
            Ok(Val::Flags(out))
        }
        other => Err(format!("{path}: {} values cannot be passed as JSON", type_name(other))),
    }
}

/// Converts a value of type `ty` back to JSON.
pub fn from_val(ty: &Type, v: &Val) -> Value {
    match (ty, v) {
        (_, Val::Bool(b)) => json!(b),
        (_, Val::S8(n)) => json!(n),
        (_, Val::U8(n)) => json!(n),
        (_, Val::S16(n)) => json!(n),
        (_, Val::U16(n)) => json!(n),
        (_, Val::S32(n)) => json!(n),
        (_, Val::U32(n)) => json!(n),
        (_, Val::S64(n)) => json!(n),
        (_, Val::U64(n)) => json!(n),
        (_, Val::Float32(f)) => Number::from_f64(*f as f64).map_or(Value::Null, Value::Number),
        (_, Val::Float64(f)) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        (_, Val::Char(c)) => json!(c.to_string()),
        (_, Val::String(s)) => json!(s),
        (Type::List(list), Val::List(items)) => match list.ty() {
            Type::U8 => json!(B64.encode(items.iter().map(|i| if let Val::U8(b) = i { *b } else { 0 }).collect::<Vec<u8>>())),
            elem => Value::Array(items.iter().map(|i| from_val(&elem, i)).collect()),
        },
        (Type::Record(record), Val::Record(fields)) => {
            let mut map = Map::new();
            for (f, (name, value)) in record.fields().zip(fields) {
                map.insert(name.clone(), from_val(&f.ty, value));
            }
            Value::Object(map)
        }
        (Type::Tuple(tuple), Val::Tuple(items)) => Value::Array(tuple.types().zip(items).map(|(t, i)| from_val(&t, i)).collect()),
        (Type::Variant(variant), Val::Variant(name, payload)) => {
            let case_ty = variant.cases().find(|c| c.name == name).and_then(|c| c.ty);
            match (case_ty, payload) {
                (Some(t), Some(p)) => json!({ name.clone(): from_val(&t, p) }),
                _ => json!(name),
            }
        }
        (_, Val::Enum(name)) => json!(name),
        (Type::Option(o), Val::Option(inner)) => inner.as_ref().map_or(Value::Null, |i| from_val(&o.ty(), i)),
        (Type::Result(r), Val::Result(outcome)) => match outcome {
            Ok(v) => json!({ "ok": side(r.ok(), v) }),
            Err(e) => json!({ "err": side(r.err(), e) }),
        },
        (_, Val::Flags(names)) => json!(names),
        (ty, _) => json!(format!("<{}>", type_name(ty))),
    }
}

fn side(ty: Option<Type>, v: &Option<Box<Val>>) -> Value {
    match (ty, v) {
        (Some(t), Some(v)) => from_val(&t, v),
        _ => Value::Null,
    }
}

/// `"name"` or `{"name": payload}`.
fn tagged(v: &Value) -> Option<(&str, Option<&Value>)> {
    match v {
        Value::String(s) => Some((s, None)),
        Value::Object(m) if m.len() == 1 => m.iter().next().map(|(k, p)| (k.as_str(), Some(p))),
        _ => None,
    }
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.len() > 40 => "a string".into(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// A WIT-like spelling of a type, for signatures and messages.
pub fn type_name(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", type_name(&l.ty())),
        Type::Record(r) => format!("record {{ {} }}", r.fields().map(|f| format!("{}: {}", f.name, type_name(&f.ty))).collect::<Vec<_>>().join(", ")),
        Type::Tuple(t) => format!("tuple<{}>", t.types().map(|t| type_name(&t)).collect::<Vec<_>>().join(", ")),
        Type::Variant(v) => format!(
            "variant {{ {} }}",
            v.cases().map(|c| c.ty.map_or(c.name.to_string(), |t| format!("{}({})", c.name, type_name(&t)))).collect::<Vec<_>>().join(", ")
        ),
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Option(o) => format!("option<{}>", type_name(&o.ty())),
        Type::Result(r) => format!(
            "result<{}, {}>",
            r.ok().map_or("_".into(), |t| type_name(&t)),
            r.err().map_or("_".into(), |t| type_name(&t))
        ),
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(_) => "future".into(),
        Type::Stream(_) => "stream".into(),
        Type::ErrorContext => "error-context".into(),
        _ => "unsupported".into(),
    }
}
