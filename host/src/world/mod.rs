//! Worlds as data. A plugin's `kind` names a [`World`]: what its component
//! must export and how each instance's typed exports are taken. The core
//! (loader, instance, pool, invoke) consults the world and never matches on
//! kinds, so every kind gets lazy loads, pools, limits, the ledger, eviction,
//! the breaker, history, jobs and batch alike.
//!
//! `component` accepts any component the linker can satisfy (generic calls
//! only). The typed kinds (`connector`, `pdf-processor`, `caption-model`) are
//! sugar over that core: a [`Typed`] world plus typed calls, one file each.
//! Embedders add theirs with [`HostBuilder::world`](crate::HostBuilder::world)
//! and call them with [`Host::call_world`](crate::Host::call_world).

pub mod caption;
pub mod connector;
pub mod pdf;

use crate::instance::InstanceState;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{Instance, InstancePre};
use wasmtime::Store;

/// The kind of plugins that only need to link: called through generic invoke.
pub const COMPONENT: &str = "component";

/// Typed exports of one instance, as its world's [`Binding`] took them.
pub type Exports = Box<dyn Any + Send>;

/// What a plugin of one `kind` must be, and how its typed exports are taken.
pub trait World: Send + Sync + 'static {
    /// The kind as manifests write it.
    fn kind(&self) -> &str;
    /// The WIT worlds it accepts, newest first (for listings and errors).
    fn wit(&self) -> Vec<String>;
    /// Checks, once per loaded component, that it implements the world.
    /// The error says what is missing.
    fn bind(&self, pre: &InstancePre<InstanceState>) -> Result<Binding, String>;
}

type Load = dyn Fn(&mut Store<InstanceState>, &Instance) -> wasmtime::Result<Exports> + Send + Sync;

/// A component bound to its world: takes each new instance's typed exports
/// with indices looked up once, at load.
pub struct Binding {
    /// The WIT world it matched (e.g. `hostel:plugin/pdf-processor@0.1.0`).
    pub wit: Option<String>,
    load: Box<Load>,
}

impl Binding {
    /// A binding with no typed exports (generic calls only).
    pub fn untyped() -> Binding {
        Binding { wit: None, load: Box::new(|_, _| Ok(Box::new(()))) }
    }

    pub(crate) fn exports(&self, store: &mut Store<InstanceState>, instance: &Instance) -> wasmtime::Result<Exports> {
        (self.load)(store, instance)
    }
}

/// `kind = "component"`: any component whose imports the host satisfies.
struct AnyComponent;

impl World for AnyComponent {
    fn kind(&self) -> &str {
        COMPONENT
    }
    fn wit(&self) -> Vec<String> {
        vec!["any world whose imports this host provides".into()]
    }
    fn bind(&self, _: &InstancePre<InstanceState>) -> Result<Binding, String> {
        Ok(Binding::untyped())
    }
}

type Bind = dyn Fn(&InstancePre<InstanceState>) -> wasmtime::Result<Binding> + Send + Sync;

/// A typed world built from `wasmtime::component::bindgen!` output: one
/// version per released WIT world, tried newest first, each giving the same
/// Rust type of exports (an enum over versions when they differ).
pub struct Typed {
    kind: String,
    versions: Vec<(String, Box<Bind>)>,
}

impl Typed {
    pub fn new(kind: impl Into<String>) -> Typed {
        Typed { kind: kind.into(), versions: Vec::new() }
    }

    /// Accepts components of the WIT world `wit`: `indices` finds and
    /// type-checks its exports once per component (bindgen's
    /// `…Indices::new`), `load` takes them from each instance
    /// (`…Indices::load`, wrapped as the world's exports type).
    pub fn version<I, E>(
        mut self,
        wit: impl Into<String>,
        indices: impl Fn(&InstancePre<InstanceState>) -> wasmtime::Result<I> + Send + Sync + 'static,
        load: impl Fn(&I, &mut Store<InstanceState>, &Instance) -> wasmtime::Result<E> + Send + Sync + 'static,
    ) -> Typed
    where
        I: Send + Sync + 'static,
        E: Send + 'static,
    {
        let wit = wit.into();
        let load = Arc::new(load);
        let matched = wit.clone();
        self.versions.push((
            wit,
            Box::new(move |pre| {
                let indices = indices(pre)?;
                let load = load.clone();
                Ok(Binding {
                    wit: Some(matched.clone()),
                    load: Box::new(move |store, instance| Ok(Box::new(load(&indices, store, instance)?) as Exports)),
                })
            }),
        ));
        self
    }
}

impl World for Typed {
    fn kind(&self) -> &str {
        &self.kind
    }
    fn wit(&self) -> Vec<String> {
        self.versions.iter().map(|(w, _)| w.clone()).collect()
    }
    fn bind(&self, pre: &InstancePre<InstanceState>) -> Result<Binding, String> {
        let mut why = Vec::new();
        for (wit, bind) in &self.versions {
            match bind(pre) {
                Ok(binding) => return Ok(binding),
                Err(e) => why.push(format!("{wit}: {}", crate::loader::one_line(&e))),
            }
        }
        Err(format!("the component does not implement the {} world ({})", self.kind, why.join("; ")))
    }
}

/// The worlds a host knows, by kind.
#[derive(Clone)]
pub struct Worlds(BTreeMap<String, Arc<dyn World>>);

impl Default for Worlds {
    /// `component` and the typed kinds of the `hostel:plugin` contract.
    fn default() -> Self {
        let mut worlds = Worlds(BTreeMap::new());
        worlds.add(Arc::new(AnyComponent));
        worlds.add(Arc::new(connector::world()));
        worlds.add(Arc::new(pdf::world()));
        worlds.add(Arc::new(caption::world()));
        worlds
    }
}

impl Worlds {
    /// Adds (or replaces) the world of `world.kind()`.
    pub fn add(&mut self, world: Arc<dyn World>) {
        self.0.insert(world.kind().to_string(), world);
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn World>> {
        self.0.get(kind)
    }

    /// Every kind, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }

    /// `Ok` for a known kind; otherwise the error a manifest gets.
    pub fn check(&self, kind: &str) -> Result<(), String> {
        match self.get(kind) {
            Some(_) => Ok(()),
            None => Err(format!("kind: unknown kind {kind:?} (this host knows: {})", self.kinds().join(", "))),
        }
    }
}

impl crate::Host {
    /// Calls a plugin of `kind` through its typed exports `E` (the type its
    /// world's binding gives): an instance is checked out (the plugin loaded
    /// on first use, under its pool, limits, breaker and the ledger), `call`
    /// runs under the call timeout, the call is recorded and the instance
    /// goes back to the pool — exactly as for the built-in kinds.
    ///
    /// ```ignore
    /// let n = host.call_world::<Tokenizer, _, _>("words", "tokenizer", "count-words", |t, store| {
    ///     Box::pin(async move { t.example_tokenizer_tokenize().call_count_words(store, text).await.map(Ok) })
    /// }).await?;
    /// ```
    pub async fn call_world<E, T, F>(&self, plugin: &str, kind: &str, export: &str, call: F) -> crate::Result<T>
    where
        E: 'static,
        T: serde::Serialize,
        F: for<'a> FnOnce(
            &'a E,
            &'a mut Store<InstanceState>,
        ) -> futures::future::BoxFuture<'a, wasmtime::Result<std::result::Result<T, crate::bindings::PluginError>>>,
    {
        let mut lease = self.acquire(plugin, Some(kind), export.to_string()).await?;
        let outcome = {
            let (exports, store) = lease.typed::<E>()?;
            call(exports, store).await
        };
        self.finish(lease, outcome)
    }
}
