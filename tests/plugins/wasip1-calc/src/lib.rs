//! `wasip1-calc`: a core module (wasm32-wasip1, not a component) whose world
//! `test:calc/calc` rides along in the `component-type` custom section that
//! `generate!` emits. The host turns it into a component with wit-component
//! and the preview1 reactor adapter.

wit_bindgen::generate!({ path: "wit", world: "calc" });

struct Calc;

impl Guest for Calc {
    fn add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }

    fn greet(name: String) -> String {
        format!("Hello, {name}!")
    }
}

export!(Calc);
